// The ID token verification benchmark's Worker, run in workerd by bench/oidc/run.sh. It verifies
// the ID token it is sent `n` times in one request, one of two ways:
//   rust       the core's id_token::verify with the pure-Rust signature (PureRustJws: jwt-simple
//              and p256 in wasm32; what /auth/callback ran before Web Crypto): allow-list, key by
//              kid, signature, iss/aud/azp/exp/iat/nonce;
//   webcrypto  crypto.subtle importKey("jwk") + verify of the same signature (no claim checks),
//              which is what the Worker's WebCryptoJws does (the claims are the core's, cheap).
// Time does not advance inside a Worker while it computes, so the driver times the requests
// from outside.
import wasm from "../../target/bench/oidc-wasm/token_bench_bg.wasm";
import { idTokenVerifyN, initSync } from "../../target/bench/oidc-wasm/token_bench.js";

initSync({ module: wasm });

const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const ALGS = {
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
  EdDSA: { name: "Ed25519" },
};

async function webcrypto(token, jwk, alg, n) {
  const [h, p, s] = token.split(".");
  const input = new TextEncoder().encode(`${h}.${p}`);
  const sig = unb64u(s);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const key = await crypto.subtle.importKey("jwk", jwk, ALGS[alg], false, ["verify"]);
    if (await crypto.subtle.verify(ALGS[alg], key, sig, input)) ok++;
  }
  return ok;
}

export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/.well-known/jwks.json") return Response.json({ keys: [] }); // readiness
    const impl = url.searchParams.get("impl");
    const n = Number(url.searchParams.get("n") ?? 0);
    const { token, jwks, jwk, alg, issuer, clientId, nonce, now } = await req.json();
    let ok;
    if (impl === "rust") ok = idTokenVerifyN(token, jwks, issuer, clientId, nonce, now, n);
    else if (impl === "webcrypto") ok = await webcrypto(token, jwk, alg, n);
    else return new Response("unknown impl", { status: 400 });
    return Response.json({ ok, n });
  },
};
