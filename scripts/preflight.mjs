// `make preflight ENV=<name>`: the step before `wrangler deploy --env <name>`. Reads the wrangler
// environment as wrangler itself resolves it (its own config reader: inheritance, bindings,
// migrations, assets) and the secrets file that will be uploaded, and hands both to the native
// checker built from the Worker's crate (src/bin/preflight.rs → src/core/server/preflight.rs),
// which runs the Worker's own configuration validation (Config::from_vars) plus the checks of a
// deploy. Prints one line per problem; exits 1 when there is any, 0 with "ok".
//
//   node scripts/preflight.mjs --env production [--secrets secrets.production.json] [--config wrangler.toml]
//
// The secrets file: JSON (what `wrangler secret bulk` takes; `make secrets` writes one) or
// KEY=value lines. Default: secrets.<env>.json. Secrets travel to the checker on stdin only.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, parseEnv } from "node:util";
import { unstable_readConfig } from "wrangler";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { env: { type: "string" }, secrets: { type: "string" }, config: { type: "string", default: join(root, "wrangler.toml") } },
});
const env = values.env || undefined;
const secretsPath = values.secrets ?? `secrets.${env ?? "top-level"}.json`;

function readSecrets(path) {
  if (!existsSync(path)) {
    console.error(`preflight: no secrets file ${path} (make secrets ENV=${env ?? "<name>"} writes one; --secrets <file> names another)`);
    process.exit(2);
  }
  const text = readFileSync(path, "utf8");
  try {
    const parsed = JSON.parse(text);
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
  } catch {
    return { ...parseEnv(text) };
  }
}

let config;
try {
  config = unstable_readConfig({ config: values.config, env }, { hideWarnings: true });
} catch (e) {
  console.error(`preflight: wrangler cannot read ${values.config}${env ? ` --env ${env}` : ""}: ${e.message}`);
  process.exit(2);
}
if (env && !config.name?.length) {
  console.error(`preflight: no environment ${env} in ${values.config}`);
  process.exit(2);
}
const deployment = {
  env: env ?? null,
  vars: Object.fromEntries(Object.entries(config.vars ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
  secrets: readSecrets(secretsPath),
  kv_namespaces: (config.kv_namespaces ?? []).map((k) => ({ binding: k.binding, id: k.id ?? null })),
  durable_objects: (config.durable_objects?.bindings ?? []).map((b) => ({ name: b.name, class_name: b.class_name, script_name: b.script_name ?? null })),
  migrations: (config.migrations ?? []).map((m) => ({
    tag: m.tag ?? "",
    new_sqlite_classes: m.new_sqlite_classes ?? [],
    new_classes: m.new_classes ?? [],
    deleted_classes: m.deleted_classes ?? [],
  })),
  assets: config.assets?.directory ?? null,
  observability: config.observability?.enabled === true,
};
const checker = spawnSync("cargo", ["run", "--quiet", "--features", "preflight", "--bin", "preflight"], {
  cwd: root,
  input: JSON.stringify(deployment),
  stdio: ["pipe", "inherit", "inherit"],
});
if (checker.error) {
  console.error(`preflight: cannot run the checker (cargo): ${checker.error.message}`);
  process.exit(2);
}
process.exit(checker.status ?? 2);
