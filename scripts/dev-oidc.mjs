// `make dev-oidc`: the demo with sign-in through a local OpenID provider. Starts oidc-provider (from
// npm, on http://127.0.0.1:9090, its development login and consent pages: any login, any
// password) with the Worker registered as its confidential client, then the Worker with
// `wrangler dev` on http://127.0.0.1:8787 as that provider's relying party (UPSTREAM_ISSUER and
// friends; password login stays on beside it). Open http://127.0.0.1:8787/auth/authorize to sign
// in; the demo page then restores the session from the cookie. Ctrl-C stops both.
// Env: PORT (8787), OIDC_PORT (9090), ACCESS_TOKEN_SOURCE (worker), ROTATION_STORE (kv).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { startProvider } from "../tests/support/oidc-provider.mjs";

const port = Number(process.env.PORT ?? 8787);
const oidcPort = Number(process.env.OIDC_PORT ?? 9090);
const origin = `http://127.0.0.1:${port}`;
const op = await startProvider({
  port: oidcPort,
  redirectUris: [`${origin}/auth/callback`, `http://localhost:${port}/auth/callback`],
  postLogoutRedirectUris: [`${origin}/`, `http://localhost:${port}/`],
  accessTtl: 60,
});
// The secrets of .dev.vars (scripts/dev-vars.mjs writes it), plus this provider's client secret
// and a token key, in a separate file so that .dev.vars itself stays as `make dev` left it.
const base = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
const envFile = ".dev-oidc.vars";
writeFileSync(envFile, `${base}\n${Object.entries(op.secrets).map(([k, v]) => `${k}=${v}`).join("\n")}\n`, { mode: 0o600 });
const vars = {
  ...op.vars,
  PASSWORD_LOGIN: "on",
  ACCESS_TTL_SECONDS: process.env.ACCESS_TTL_SECONDS ?? "30",
  ISSUER: origin,
  ACCESS_TOKEN_SOURCE: process.env.ACCESS_TOKEN_SOURCE ?? "worker",
  ROTATION_STORE: process.env.ROTATION_STORE ?? "kv",
};
console.log(`
  OpenID provider (oidc-provider) at ${op.issuer}  (any login, any password)
  silent-refresh at ${origin}/  — sign in with the provider: ${origin}/auth/authorize?return_to=/
  Ctrl-C stops both.
`);
const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", ".wrangler/state", "--env-file", envFile];
for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
const wrangler = spawn("wrangler", args, { stdio: "inherit" });
const stop = async () => {
  wrangler.kill("SIGTERM");
  await op.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
wrangler.on("exit", async (code) => {
  await op.close();
  process.exit(code ?? 0);
});
