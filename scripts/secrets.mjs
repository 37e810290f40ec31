// Secrets of a deployed environment, in the file format `wrangler secret bulk` takes (one JSON
// object). `make secrets ENV=<name>` runs `new`. Never a DEMO_USER: that is `make dev`'s only.
//
//   node scripts/secrets.mjs new <env>                 writes secrets.<env>.json (refuses to overwrite)
//   node scripts/secrets.mjs add-key <file>            signing-key rotation, step 1: a new key, published
//                                                      in the JWKS but not signing yet
//   node scripts/secrets.mjs promote-key <file> <kid>  step 2: that key signs; the others only verify
//                                                      and keep only their public part (no `d`)
//   node scripts/secrets.mjs retire-key <file> <kid>   step 3: the old key is gone (once every token it
//                                                      signed has expired: ACCESS_TTL_SECONDS + LEEWAY_SECONDS
//                                                      after step 2)
// After each step: `wrangler secret bulk <file> --env <env>` (README "Rotating the signing key").
// The file is the only copy of the private keys outside Cloudflare (secrets cannot be read back):
// keep it in a password manager, never in git (.gitignore has secrets.*.json).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** A fresh Ed25519 signing key as the JWK SIGNING_KEYS holds (kid, kty, crv, x, d). */
export function newSigningKey(prefix = "key") {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const date = new Date().toISOString().slice(0, 10);
  return { kid: `${prefix}-${date}-${randomBytes(3).toString("hex")}`, kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
}

/** A fresh set of a deployment's secrets: every one required, nothing for local development. */
export function newSecrets(env) {
  return {
    SIGNING_KEYS: JSON.stringify([newSigningKey(env)]),
    REFRESH_SECRET: randomBytes(32).toString("base64url"),
    PASSWORD_PEPPER: randomBytes(32).toString("base64url"),
    ADMIN_TOKEN: randomBytes(32).toString("base64url"),
  };
}

function write(path, secrets) {
  writeFileSync(path, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
}

function read(path) {
  const secrets = JSON.parse(readFileSync(path, "utf8"));
  const keys = JSON.parse(secrets.SIGNING_KEYS ?? "[]");
  return { secrets, keys };
}

function fail(message) {
  console.error(`secrets: ${message}`);
  process.exit(1);
}

const [command, arg, kid] = process.argv.slice(2);
if (import.meta.url === `file://${process.argv[1]}`) {
  switch (command) {
    case "new": {
      if (!arg || !/^[a-z0-9-]+$/.test(arg)) fail("usage: node scripts/secrets.mjs new <env> (e.g. production)");
      const path = `secrets.${arg}.json`;
      if (existsSync(path)) fail(`${path} exists; it may hold the only copy of live secrets: move it away first`);
      write(path, newSecrets(arg));
      console.log(`wrote ${path} (mode 600): SIGNING_KEYS, REFRESH_SECRET, PASSWORD_PEPPER, ADMIN_TOKEN`);
      console.log(`next: make preflight ENV=${arg} && wrangler secret bulk ${path} --env ${arg}`);
      break;
    }
    case "add-key": {
      const { secrets, keys } = read(arg);
      const key = newSigningKey("key");
      keys.push(key);
      write(arg, { ...secrets, SIGNING_KEYS: JSON.stringify(keys) });
      console.log(`added ${key.kid} (published in the JWKS, not signing yet); upload, wait for the JWKS caches of your APIs, then promote-key ${key.kid}`);
      break;
    }
    case "promote-key": {
      const { secrets, keys } = read(arg);
      const i = keys.findIndex((k) => k.kid === kid);
      if (i < 0) fail(`no key ${kid} in ${arg}`);
      keys.unshift(...keys.splice(i, 1));
      // The others only verify from now on: their private part is dropped (the Worker accepts
      // public-only keys after the first one).
      const kept = keys.map((k, n) => (n === 0 ? k : { kid: k.kid, kty: k.kty, crv: k.crv, x: k.x }));
      write(arg, { ...secrets, SIGNING_KEYS: JSON.stringify(kept) });
      console.log(`${kid} signs now; the others only verify (public part only). Upload, then retire the old key once ACCESS_TTL_SECONDS + LEEWAY_SECONDS have passed`);
      break;
    }
    case "retire-key": {
      const { secrets, keys } = read(arg);
      if (keys[0]?.kid === kid) fail(`${kid} is the signing key: promote another one first`);
      const left = keys.filter((k) => k.kid !== kid);
      if (left.length === keys.length) fail(`no key ${kid} in ${arg}`);
      write(arg, { ...secrets, SIGNING_KEYS: JSON.stringify(left) });
      console.log(`retired ${kid}; upload. Tokens it signed no longer verify.`);
      break;
    }
    default:
      fail("usage: node scripts/secrets.mjs new <env> | add-key <file> | promote-key <file> <kid> | retire-key <file> <kid>");
  }
}
