// Hostile ID tokens at /auth/callback (issue 21, item 9): a nonce that is not the transaction's,
// another audience, another issuer, a token signed by another key under the provider's kid,
// `alg: none`, an HMAC token, an expired one: no session, a redirect back with
// auth_error=invalid_id_token. A real provider never signs these, so the provider here is a
// fault injector: discovery, a JWKS with one ES256 key, an authorization endpoint that answers at
// once, and a token endpoint answering whatever ID token the test set (`next`). A good token
// from the same fake provider is the positive control. Also: a provider that is ES256-only and
// advertises only `client_secret_post` is the other test of that file (oidc-provider).
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "../support/test.mjs";
import { freePort, startWorker } from "../support/worker.mjs";
import { hop, Jar, signInHttp, startProvider } from "../support/oidc-provider.mjs";
import { call } from "./helpers.mjs";

const MODE = process.env.SILENT_REFRESH_ROTATION_STORE ?? "kv";
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A compact JWS of `header` and `payload` signed ES256 by `key`. */
function es256(key, header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

/** The same, RS256 (RSASSA-PKCS1-v1_5 with SHA-256) or EdDSA (Ed25519) by `key`. */
function rs256(key, header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}
function eddsa(key, header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

/** The provider's other keys: RS256 (kid r1) and EdDSA (kid e1), published beside k1. */
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");

async function startRogue() {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwks = [
    { ...publicKey.export({ format: "jwk" }), kid: "k1", use: "sig", alg: "ES256" },
    { ...rsa.publicKey.export({ format: "jwk" }), kid: "r1", use: "sig", alg: "RS256" },
    { ...ed.publicKey.export({ format: "jwk" }), kid: "e1", use: "sig", alg: "EdDSA" },
  ];
  const state = { nonce: undefined, next: undefined, clientId: undefined, tokenCalls: 0, jwksFetches: 0 };
  /** A key rotation: a new key `kid` is published beside the old one; resolves to its private key. */
  const rotate = (kid) => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    jwks.push({ ...pair.publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "ES256" });
    return pair.privateKey;
  };
  const json = (res, status, body) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(res, 200, {
        issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"], code_challenge_methods_supported: ["S256"], authorization_response_iss_parameter_supported: true,
      });
    }
    if (url.pathname === "/jwks") { state.jwksFetches += 1; return json(res, 200, { keys: jwks }); }
    if (url.pathname === "/authorize") {
      state.nonce = url.searchParams.get("nonce");
      state.clientId = url.searchParams.get("client_id");
      const back = new URL(url.searchParams.get("redirect_uri"));
      back.searchParams.set("code", randomBytes(8).toString("hex"));
      back.searchParams.set("state", url.searchParams.get("state"));
      back.searchParams.set("iss", issuer);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      for await (const _ of req) { /* drain */ }
      state.tokenCalls += 1;
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: issuer, aud: state.clientId, sub: "rogue-user", nonce: state.nonce, iat: now, exp: now + 300 };
      return json(res, 200, { access_token: "at", token_type: "Bearer", expires_in: 300, refresh_token: "rt", id_token: state.next({ claims, key: privateKey, issuer }) });
    }
    json(res, 404, { error: "not_found" });
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  const close = async () => { server.closeAllConnections(); await new Promise((ok) => server.close(ok)); };
  return { issuer, state, rotate, close };
}

describe(`hostile ID tokens at the callback (${MODE})`, () => {
  let w, rogue;
  before(async () => {
    rogue = await startRogue();
    w = await startWorker({
      vars: { UPSTREAM_ISSUER: rogue.issuer, UPSTREAM_CLIENT_ID: "edge" },
      secrets: { UPSTREAM_TOKEN_KEY: randomBytes(32).toString("base64url"), UPSTREAM_CLIENT_SECRET: "s" },
    });
  });
  after(async () => {
    await w?.stop();
    await rogue?.close();
  });

  /** Signs in through the rogue provider with the ID token `make` builds; the callback's answer. */
  async function attempt(make) {
    rogue.state.next = make;
    const jar = new Jar();
    const authorize = await hop(jar, `${w.url}/auth/authorize?return_to=%2Fhome`);
    assert.equal(authorize.status, 302, authorize.text);
    const back = await hop(jar, authorize.location);
    const callback = await hop(jar, back.location);
    return { callback, jar };
  }

  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const otherRsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const otherEd = generateKeyPairSync("ed25519").privateKey;
  const cases = {
    "nonce mismatch": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, nonce: "not-the-transactions" }),
    "no nonce": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, nonce: undefined }),
    "wrong aud": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, aud: "another-client" }),
    "several audiences without azp": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, aud: [claims.aud, "another-client"] }),
    "wrong iss": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, iss: "https://evil.example" }),
    "signed by another key": ({ claims }) => es256(other, { alg: "ES256", kid: "k1" }, claims),
    "unknown kid": ({ claims }) => es256(other, { alg: "ES256", kid: "k2" }, claims),
    "RS256 signed by another RSA key": ({ claims }) => rs256(otherRsa, { alg: "RS256", kid: "r1" }, claims),
    "EdDSA signed by another Ed25519 key": ({ claims }) => eddsa(otherEd, { alg: "EdDSA", kid: "e1" }, claims),
    "an ES256 signature labelled RS256 under the RSA key": ({ claims, key }) => {
      const [, p, sig] = es256(key, { alg: "ES256", kid: "k1" }, claims).split(".");
      return `${b64({ alg: "RS256", kid: "r1" })}.${p}.${sig}`;
    },
    "alg none": ({ claims }) => `${b64({ alg: "none", kid: "k1" })}.${b64(claims)}.`,
    "HS256 keyed with the client secret": ({ claims }) => {
      const input = `${b64({ alg: "HS256", kid: "k1" })}.${b64(claims)}`;
      return `${input}.${createHmac("sha256", "s").update(input).digest("base64url")}`;
    },
    "expired": ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, { ...claims, iat: claims.iat - 3600, exp: claims.iat - 600 }),
    "not a JWT": () => "garbage",
  };

  test("a good ID token from the same provider signs in (positive control)", async () => {
    const { callback, jar } = await attempt(({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, claims));
    assert.equal(callback.status, 303, callback.text);
    assert.equal(callback.location, `${w.url}/home`);
    assert.match(jar.get(w.url, "sr_refresh") ?? "", /^srt_/);
  });

  test("good RS256 and EdDSA ID tokens sign in (the runtime's Web Crypto verifies all three algorithms)", async () => {
    for (const make of [
      ({ claims }) => rs256(rsa.privateKey, { alg: "RS256", kid: "r1" }, claims),
      ({ claims }) => eddsa(ed.privateKey, { alg: "EdDSA", kid: "e1" }, claims),
    ]) {
      const { callback, jar } = await attempt(make);
      assert.equal(callback.location, `${w.url}/home`, callback.text);
      assert.match(jar.get(w.url, "sr_refresh") ?? "", /^srt_/);
    }
  });

  test("a key rotation at the provider is picked up by one JWKS refetch; a flood of unknown kids then fetches nothing", async () => {
    const fetched = rogue.state.jwksFetches;
    const k2 = rogue.rotate("k2");
    const { callback } = await attempt(({ claims }) => es256(k2, { alg: "ES256", kid: "k2" }, claims));
    assert.equal(callback.location, `${w.url}/home`, "signed in with the new key");
    assert.equal(rogue.state.jwksFetches, fetched + 1, "one refetch");
    for (let i = 0; i < 5; i++) {
      const { callback: c } = await attempt(({ claims }) => es256(other, { alg: "ES256", kid: `made-up-${i}` }, claims));
      assert.equal(c.location, `${w.url}/home?auth_error=invalid_id_token`);
    }
    assert.equal(rogue.state.jwksFetches, fetched + 1, "no fetch within the interval (60 s)");
  });

  for (const [name, make] of Object.entries(cases)) {
    test(`${name}: no session, back with auth_error=invalid_id_token`, async () => {
      const kvBefore = w.kvValues().length;
      const { callback, jar } = await attempt(make);
      assert.equal(callback.status, 303, callback.text);
      assert.equal(callback.location, `${w.url}/home?auth_error=invalid_id_token`);
      assert.equal(jar.get(w.url, "sr_refresh"), undefined, "no refresh cookie");
      assert.doesNotMatch(callback.headers.get("set-cookie") ?? "", /sr_refresh=srt_|sr_session=1/);
      if (MODE === "kv") assert.equal(w.kvValues().length, kvBefore + 1, "only the spent transaction was written");
    });
  }

  test("hostile callback queries are never a 5xx", async () => {
    for (const q of ["", "?code=", "?state=%", "?code=a&code=b", "?state=" + "x".repeat(5000), "?error=%ZZ", "?iss=%00"]) {
      const res = await call(w, "GET", `/auth/callback${q}`);
      assert.ok(res.status === 400 || res.status === 303, `${q}: ${res.status}`);
    }
    const res = await call(w, "GET", "/auth/authorize?return_to=%2Fa&return_to=%2Fb");
    assert.equal(res.status, 400);
  });
});

describe(`a provider signing ES256 and advertising only client_secret_post (${MODE})`, () => {
  let w, op;
  before(async () => {
    const workerPort = await freePort();
    op = await startProvider({ redirectUris: [`http://127.0.0.1:${workerPort}/auth/callback`], idTokenAlg: "ES256", clientAuth: "client_secret_post" });
    w = await startWorker({ port: workerPort, vars: op.vars, secrets: op.secrets });
  });
  after(async () => {
    await w?.stop();
    await op?.close();
  });

  test("signs in (the code exchanged with client_secret_post, the ES256 ID token verified) and refreshes", async () => {
    const discovery = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.deepEqual(discovery.token_endpoint_auth_methods_supported, ["client_secret_post"]);
    const { jar, callback } = await signInHttp(w.url, { login: "es" });
    assert.equal(callback.status, 303, callback.text);
    assert.equal(callback.location, `${w.url}/app`);
    assert.ok(op.events.some(([e, t]) => e === "grant.success" && t === "authorization_code"));
    const res = await call(w, "POST", "/auth/refresh", { cookie: `sr_refresh=${jar.get(w.url, "sr_refresh")}`, headers: { "x-silent-refresh": "1" } });
    assert.equal(res.status, 200, res.text);
  });
});

describe(`the callback's rate limit per client address (${MODE})`, () => {
  let w, rogue;
  before(async () => {
    rogue = await startRogue();
    w = await startWorker({
      vars: { UPSTREAM_ISSUER: rogue.issuer, UPSTREAM_CLIENT_ID: "edge", ROUTE_RATE_LIMIT: "3" },
      secrets: { UPSTREAM_TOKEN_KEY: randomBytes(32).toString("base64url"), UPSTREAM_CLIENT_SECRET: "s" },
    });
  });
  after(async () => {
    await w?.stop();
    await rogue?.close();
  });

  test("ROUTE_RATE_LIMIT callbacks per 10 s reach the provider; the next goes back with auth_error=temporarily_unavailable, no exchange, no session", async () => {
    rogue.state.next = ({ claims, key }) => es256(key, { alg: "ES256", kid: "k1" }, claims);
    const signIn = async () => {
      const jar = new Jar();
      const authorize = await hop(jar, `${w.url}/auth/authorize?return_to=%2Fhome`);
      const back = await hop(jar, authorize.location);
      return { callback: await hop(jar, back.location), jar };
    };
    for (let i = 0; i < 3; i++) {
      const { callback } = await signIn();
      assert.equal(callback.location, `${w.url}/home`, `sign-in ${i + 1} of 3 (positive control)`);
    }
    const exchanges = rogue.state.tokenCalls;
    const { callback, jar } = await signIn();
    assert.equal(callback.status, 303);
    assert.equal(callback.location, `${w.url}/home?auth_error=temporarily_unavailable`);
    assert.equal(rogue.state.tokenCalls, exchanges, "the code was not sent to the provider");
    assert.equal(jar.get(w.url, "sr_refresh"), undefined);
  });
});
