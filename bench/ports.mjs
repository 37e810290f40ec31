// Prints N distinct free TCP ports on 127.0.0.1, space-separated, for bench/run.sh's servers:
// tests/support/worker.mjs's freePort (below the ephemeral range, so no other socket on the
// machine is handed one meanwhile; never the same port twice).
// Usage: node bench/ports.mjs N
import { freePort } from "../tests/support/worker.mjs";

const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1) throw new Error("usage: node bench/ports.mjs N");
const ports = [];
for (let i = 0; i < n; i++) ports.push(await freePort());
console.log(ports.join(" "));
