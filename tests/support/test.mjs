// node:test with a timeout on every test and hook, so that a regression fails instead of hanging.
// The http and e2e tiers import their test functions from here, never from node:test directly
// (scripts/test.sh refuses a test file that does):
//
//   import { after, before, describe, test } from "../support/test.mjs";
//
// `--test-timeout` cannot do this on Node.js 22: with `node --test` it bounds a whole file, not
// each test, and hooks have no timeout unless they are given one. scripts/test.sh also passes it,
// as a bound on each file. An explicit `{ timeout }` option still wins.
// One cost: node:test takes a test's location from its caller, so the "test at ..." line of a
// failure names this file; the test's name (and, for a failed assertion, the stack) say where.
// Env (seconds): TEST_TIMEOUT_SECONDS (120, each test), HOOK_TIMEOUT_SECONDS (180, each hook: a
// `before` may start the Worker, whose own start-up deadline is 90 s, and a browser).
import * as nodeTest from "node:test";

const seconds = (name, fallback) => {
  const v = Number(process.env[name] ?? fallback);
  if (!(v > 0)) throw new Error(`${name} must be a positive number of seconds, not ${process.env[name]}`);
  return v * 1000;
};
/** Milliseconds each test may run. */
export const TEST_TIMEOUT_MS = seconds("TEST_TIMEOUT_SECONDS", 120);
/** Milliseconds each hook may run. */
export const HOOK_TIMEOUT_MS = seconds("HOOK_TIMEOUT_SECONDS", 180);

/** `run(name?, options?, fn?)` with `timeout` (and `extra`) added to the options. */
function withOptions(run, extra) {
  return (...args) => {
    const name = typeof args[0] === "string" ? args.shift() : undefined;
    const options = args[0] !== null && typeof args[0] === "object" ? args.shift() : {};
    const rest = [{ timeout: TEST_TIMEOUT_MS, ...options, ...extra }, ...args];
    return name === undefined ? run(...rest) : run(name, ...rest);
  };
}

/** `test` of node:test with a per-test timeout; also `.skip`, `.todo` and `.only`. */
export const test = Object.assign(withOptions(nodeTest.test, {}), {
  skip: withOptions(nodeTest.test, { skip: true }),
  todo: withOptions(nodeTest.test, { todo: true }),
  only: withOptions(nodeTest.test, { only: true }),
});
export const it = test;

/** Suites are not timed as a whole (each of their tests is); the file is, by scripts/test.sh. */
export const { describe, suite } = nodeTest;

const hook = (register) => (fn, options = {}) => register(fn, { timeout: HOOK_TIMEOUT_MS, ...options });
export const before = hook(nodeTest.before);
export const after = hook(nodeTest.after);
export const beforeEach = hook(nodeTest.beforeEach);
export const afterEach = hook(nodeTest.afterEach);

/**
 * Resolves as `promise` does, or rejects after `ms` naming `what`: for awaits that no library
 * bounds (a page.evaluate waiting for an event, a socket, a child process).
 */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
