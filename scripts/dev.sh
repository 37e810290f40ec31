#!/usr/bin/env bash
# `make dev`: serves the demo page and the API from the built Worker with `wrangler dev`
# (workerd, local KV persisted under .wrangler/state) until Ctrl-C. The local-only values live
# here, not in wrangler.toml (which a deploy reads): the loopback ISSUER and ALLOWED_ORIGINS, and
# the demo site (--assets). .dev.vars holds the local secrets and the demo user.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/dev-vars.mjs .dev.vars
port=${PORT:-8787}
echo
echo "  silent-refresh is running at http://127.0.0.1:${port}/  (demo user: demo / demo-password)"
echo "  API under http://127.0.0.1:${port}/auth/ — access tokens live ${ACCESS_TTL_SECONDS:-30} s here so refreshes show."
echo "  Ctrl-C stops it."
echo
exec wrangler dev --ip 127.0.0.1 --port "$port" --persist-to .wrangler/state --assets build/site \
  --var "ACCESS_TTL_SECONDS:${ACCESS_TTL_SECONDS:-30}" --var "ISSUER:http://127.0.0.1:${port}" \
  --var "ALLOWED_ORIGINS:http://127.0.0.1:${port},http://localhost:${port}"
