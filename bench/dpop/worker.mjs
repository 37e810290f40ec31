// The DPoP verification benchmark's Worker, run in workerd by bench/dpop/run.sh. It verifies
// the proof it is sent `n` times in one request, one of three ways:
//   rust       the core's dpop::verify with the signature in pure Rust (p256 in wasm32),
//   checks     the core's dpop::verify without the signature (what the Worker does in Rust),
//   webcrypto  crypto.subtle importKey("raw") + verify, as the Worker's WebCryptoEs256 does.
// The Worker's real cost with Web Crypto is `checks` + `webcrypto`. Time does not advance
// inside a Worker while it computes, so the driver times the requests from outside.
import wasm from "../../target/bench/dpop-wasm/token_bench_bg.wasm";
import { dpopVerifyN, initSync } from "../../target/bench/dpop-wasm/token_bench.js";

initSync({ module: wasm });

const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

async function webcrypto(proof, n) {
  const [h, p, s] = proof.split(".");
  const { jwk } = JSON.parse(new TextDecoder().decode(unb64u(h)));
  const point = new Uint8Array(65);
  point[0] = 4;
  point.set(unb64u(jwk.x), 1);
  point.set(unb64u(jwk.y), 33);
  const input = new TextEncoder().encode(`${h}.${p}`);
  const sig = unb64u(s);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const key = await crypto.subtle.importKey("raw", point, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    if (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, input)) ok++;
  }
  return ok;
}

export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/.well-known/jwks.json") return Response.json({ keys: [] }); // readiness
    const impl = url.searchParams.get("impl");
    const n = Number(url.searchParams.get("n") ?? 0);
    const { proof, htu, now } = await req.json();
    let ok;
    if (impl === "rust") ok = dpopVerifyN(proof, htu, now, true, n);
    else if (impl === "checks") ok = dpopVerifyN(proof, htu, now, false, n);
    else if (impl === "webcrypto") ok = await webcrypto(proof, n);
    else return new Response("unknown impl", { status: 400 });
    return Response.json({ ok, n });
  },
};
