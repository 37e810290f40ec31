// DPoP (RFC 9449) for the browser package: the client's key and its proofs, in WebCrypto, not in
// wasm. glue.js imports it (one module in the package) and calls `key`, `remove` and `send` when
// the option `dpop` is on (by default in body mode).
//
// The key: an ECDSA P-256 pair generated non-extractable, kept in IndexedDB (database `name`,
// the client's `channelName` + ":dpop", one object store) so that a reload keeps the session and
// every tab of the origin uses the same key. Where IndexedDB is missing or cannot store a
// `CryptoKey` (Safari's private browsing and Lockdown Mode refuse to), there is no key by default
// (a Bearer session, which a reload keeps); with `dpop: true` the key lives as long as the page
// and the session ends with the page. Only `indexedDB`, `crypto.subtle`, `URL`,
// `btoa` and `TextEncoder`: the same in windows, Web Workers and Service Workers. The object
// store is named "dpop" too. What a proof shares with the Worker's check (its `typ`, `alg`, curve,
// and the scheme) comes from names.js, generated from src/core/server/dpop.rs. Unit tests:
// tests/browser/dpop.test.mjs (node --test, no build).

import { DPOP, DPOP_ALG, DPOP_CURVE, DPOP_TYP } from "./names.js";

/** Generation and signing parameters (each call reads the members it needs). */
const EC = { name: "ECDSA", namedCurve: DPOP_CURVE, hash: "SHA-256" };
/** Keys kept for the page's lifetime, by database name, where IndexedDB could not store them. */
const page = new Map();
/** The access token whose hash (`ath`) was made last, and that hash. */
let athOf, athIs;
/** The last `DPoP-Nonce` each origin sent. */
const nonces = new Map();
/** WebCrypto, where the context has it (a secure one). */
const subtle = globalThis.crypto?.subtle;

const utf8 = (text) => new TextEncoder().encode(text);
const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/=/g, "").replace(/\+/g, "-").replace(/\//g, "_");
const part = (value) => b64u(utf8(JSON.stringify(value)));

/** Runs `f(store)` in one transaction on database `name` (`mode`: "readwrite", else read-only); its request's result. */
const idb = (name, f, mode) => new Promise((resolve, reject) => {
  const open = indexedDB.open(name);
  open.onupgradeneeded = () => open.result.createObjectStore("dpop");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    try {
      const tx = db.transaction("dpop", mode);
      const request = f(tx.objectStore("dpop"));
      tx.oncomplete = () => resolve(request.result);
      tx.onabort = () => reject(tx.error);
    } catch (e) {
      reject(e);
    }
    // Closes once the transaction is over.
    db.close();
  };
});

/** The stored key `[privateKey, publicJwk]` of database `name`, or `undefined`. */
const stored = (name) => page.get(name) ?? idb(name, (s) => s.get(0)).catch(() => {});

/**
 * The key of database `name`: the stored one; else, if `create`, a new one, stored (if another
 * tab stored one first, that one) or, where IndexedDB cannot keep it, kept for the page's
 * lifetime if `always`, else none; else `undefined` (the key is lost).
 */
export async function key(name, create, always) {
  let k = await stored(name);
  // Without WebCrypto (an insecure context): no key, no proofs, a Bearer session.
  if (!k && create && subtle) {
    const pair = await subtle.generateKey(EC, false, ["sign"]);
    const { kty, crv, x, y } = await subtle.exportKey("jwk", pair.publicKey);
    k = [pair.privateKey, { kty, crv, x, y }];
    try {
      await idb(name, (s) => s.add(k, 0), "readwrite");
    } catch {
      // Another tab's key (the add failed on it), else none could be stored.
      const other = await stored(name);
      k = other ?? (always ? (page.set(name, k), k) : undefined);
    }
  }
  return k;
}

/** Removes the key of database `name`. */
export function remove(name) {
  page.delete(name);
  return idb(name, (s) => s.delete(0), "readwrite").catch(() => {});
}

/**
 * Sends `make(0)` with `fetch` and a proof by key `k` (none without a key), and with
 * `Authorization: DPoP <access>` if `access` is given. Remembers the origin's `DPoP-Nonce`; if
 * the answer asks for a proof with it, sends `make(1)` once more with a new proof: one retry per
 * request, never more.
 */
export async function send(fetch, k, make, access) {
  for (let retry = 0; ; retry++) {
    const request = make(retry);
    const { origin, pathname } = new URL(request.url);
    // The proof: `htu` without query and fragment, the origin's last nonce and, given the access
    // token, its hash (`ath`).
    if (k) {
      const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: request.method,
        htu: origin + pathname, iat: Math.floor(Date.now() / 1000), nonce: nonces.get(origin) };
      // `ath` and the header are the same for every proof with the same token and key: made once.
      if (access) {
        const ath = access == athOf ? athIs : b64u(await subtle.digest("SHA-256", utf8(access)));
        [athOf, athIs, claims.ath] = [access, ath, ath];
      }
      const input = (k.h ??= part({ typ: DPOP_TYP, alg: DPOP_ALG, jwk: k[1] })) + "." + part(claims);
      request.headers.set(DPOP, input + "." + b64u(await subtle.sign(EC, k[0], utf8(input))));
    }
    if (access) request.headers.set("Authorization", DPOP + " " + access);
    const response = await fetch.call(globalThis, request);
    const nonce = response.headers.get("dpop-nonce");
    if (nonce) nonces.set(origin, nonce);
    // Done unless the answer asks for a proof with a fresh nonce (400 `use_dpop_nonce` at a token
    // endpoint, 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` at a resource).
    if (retry || !nonce || !k || !(response.status == 401
      ? /use_dpop_nonce/.test(response.headers.get("www-authenticate"))
      : response.status == 400 && (await response.clone().json().catch(() => 0))?.error == "use_dpop_nonce")) return response;
  }
}
