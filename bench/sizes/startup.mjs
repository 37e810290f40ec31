// Start-up CPU of our Worker against the jose Worker, side by side: `wrangler check startup`
// (wrangler bundles the Worker as `wrangler deploy` would, starts it in workerd and records a V8
// CPU profile of the start-up phase: the script's evaluation and, for ours, compiling and
// instantiating the wasm). Rounds alternate the two Workers; the figure of a run is its
// profile's active time (samples not idle), the result the median over the rounds. The sampler
// takes about one sample per millisecond and a long synchronous step (the wasm compile) is one
// long sample, so single runs move by a millisecond or two: compare the medians.
//
// Usage: node bench/sizes/startup.mjs OURS_WRANGLER_TOML JOSE_WRANGLER_TOML OUT.json [ROUNDS=15]
// (bench/run.sh passes target/bench/ours.wrangler.toml, our Worker without the demo's assets,
// and bench/jose-worker/wrangler.toml, whose bundle it has built.)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { median } from "../stats.mjs";

const [ours, jose, outPath, roundsArg] = process.argv.slice(2).map((a, i) => (i < 3 ? resolve(a) : a));
const rounds = Number(roundsArg ?? 15);
const wrangler = new URL("../../node_modules/.bin/wrangler", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "startup-"));

/** Active (not idle) and total sampled milliseconds of one `wrangler check startup` run. */
function profile(config, name, i) {
  const out = join(dir, `${name}-${i}.cpuprofile`);
  // --cwd: without it wrangler profiles the Worker of the wrangler.toml in the working directory,
  // whatever -c says.
  const log = execFileSync(wrangler, ["check", "startup", "--cwd", dirname(config), "-c", basename(config), "--outfile", out], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "true" },
  });
  const bundle = /Bundle: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(log);
  const p = JSON.parse(readFileSync(out, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let active = 0;
  let total = 0;
  p.samples.forEach((id, k) => {
    const dt = (p.timeDeltas[k] ?? 0) / 1000;
    total += dt;
    if (byId.get(id).callFrame.functionName !== "(idle)") active += dt;
  });
  return { active, total, bundleKiB: bundle ? Number(bundle[1]) : undefined, gzipKiB: bundle ? Number(bundle[2]) : undefined };
}


const runs = { ours: [], jose: [] };
try {
  profile(ours, "warm", 0); // the first run of wrangler pays for its own start-up caches
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? ["jose", "ours"] : ["ours", "jose"];
    for (const name of order) runs[name].push(profile(name === "ours" ? ours : jose, name, i));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
// A profile with no active sample at all missed the start-up (seen under load): such runs are
// dropped, and counted.
const result = { rounds, dropped: {} };
for (const name of ["ours", "jose"]) {
  const kept = runs[name].filter((r) => r.active > 0);
  result.dropped[name] = runs[name].length - kept.length;
  if (kept.length < Math.ceil(rounds / 2)) throw new Error(`${name}: ${result.dropped[name]} of ${rounds} profiles were empty`);
  runs[name] = kept;
}
if (runs.ours[0].bundleKiB === runs.jose[0].bundleKiB) throw new Error("both profiles are of one bundle: wrangler did not take the config given");
for (const name of ["ours", "jose"]) {
  result[name] = {
    activeMs: median(runs[name].map((r) => r.active)),
    runsMs: runs[name].map((r) => Number(r.active.toFixed(1))),
    bundleKiB: runs[name][0].bundleKiB,
    gzipKiB: runs[name][0].gzipKiB,
  };
}
result.ratio = result.ours.activeMs / result.jose.activeMs;
writeFileSync(outPath, JSON.stringify(result, null, 2));
console.error(
  `[startup] ${rounds} alternating rounds, active ms (median): ours ${result.ours.activeMs.toFixed(1)}, ` +
    `jose ${result.jose.activeMs.toFixed(1)}, ours ÷ jose ${result.ratio.toFixed(2)}`,
);
