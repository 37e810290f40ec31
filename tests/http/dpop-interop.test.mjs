// DPoP interoperability: proofs made by implementations nobody here wrote — the `dpop` package
// (keys and proofs) and `jose` (RFC 7638 thumbprints) — against the real Worker. The Worker must
// accept the proofs, bind sessions to the thumbprint jose computes, and refuse the algorithms it
// does not allow.
import assert from "node:assert/strict";
import { generateKeyPair, generateProof } from "dpop";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { after, before, describe, test } from "../support/test.mjs";
import { startWorker } from "../support/worker.mjs";
import { call, isError } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.stop();
});

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));

async function login(keypair) {
  const dpop = await generateProof(keypair, `${w.url}/auth/login`, "POST");
  return call(w, "POST", "/auth/login", { json: { username: "demo", password: "demo-password" }, headers: { dpop } });
}

describe("DPoP with the dpop and jose packages", () => {
  test("login, refresh and the resource accept their proofs; cnf.jkt is jose's thumbprint", async () => {
    const keypair = await generateKeyPair("ES256");
    const jkt = await calculateJwkThumbprint(await exportJWK(keypair.publicKey), "sha256");
    const res = await login(keypair);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.token_type, "DPoP");
    assert.equal(claimsOf(res.body.access_token).cnf.jkt, jkt);

    let tokens = res.body;
    for (let i = 0; i < 2; i++) {
      const dpop = await generateProof(keypair, `${w.url}/auth/refresh`, "POST");
      const r = await call(w, "POST", "/auth/refresh", { json: { refresh_token: tokens.refresh_token }, headers: { dpop } });
      assert.equal(r.status, 200, r.text);
      assert.equal(claimsOf(r.body.access_token).cnf.jkt, jkt);
      tokens = r.body;
    }

    const dpop = await generateProof(keypair, `${w.url}/api/me`, "GET", undefined, tokens.access_token);
    const me = await call(w, "GET", "/api/me", { headers: { authorization: `DPoP ${tokens.access_token}`, dpop } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.cnf.jkt, jkt);
    // A proof made by the package for another access token is refused.
    const other = await generateProof(keypair, `${w.url}/api/me`, "GET", undefined, res.body.access_token);
    const refused = await call(w, "GET", "/api/me", { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: other } });
    isError(refused, 401, "invalid_dpop_proof", "ath of another token");
  });

  test("their proofs with another key are theft; their other algorithms are refused", async () => {
    const keypair = await generateKeyPair("ES256");
    const thief = await generateKeyPair("ES256");
    const rt = (await login(keypair)).body.refresh_token;
    const stolen = await generateProof(thief, `${w.url}/auth/refresh`, "POST");
    isError(await call(w, "POST", "/auth/refresh", { json: { refresh_token: rt }, headers: { dpop: stolen } }), 400, "invalid_grant", "thief");

    for (const alg of ["Ed25519", "PS256", "RS256"]) {
      const kp = await generateKeyPair(alg);
      isError(await login(kp), 400, "invalid_dpop_proof", alg);
    }
  });
});
