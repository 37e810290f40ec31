// The Worker's entry module: what wrangler.toml's `main` loads (bundled by scripts/build-worker.sh
// with esbuild into build/worker/index.js). It connects the runtime to wasm-bindgen's exports of
// src/worker (`./index.js` here is wasm-bindgen's `--target module` output, the wasm beside it):
//   - the default export, a WorkerEntrypoint whose `fetch` calls the `#[event(fetch)]` handler
//     with the bindings (`env`) and the context (`ctx`);
//   - the Durable Object classes wrangler.toml binds: RotationObject (strict mode's store) and
//     LoginThrottle (the login throttle).
// It is the entry worker-build 0.8 generates (its src/js/shim.js with the handlers filled in),
// written once: after a trap (a panic aborts, `panic = "abort"`) the wasm instance is broken, so
// the next call re-creates it (`__wbg_reset_state`, from wasm-bindgen's
// --experimental-reset-state-function) and objects created before are rebuilt on their next use.
// scripts/build-worker.sh refuses to build when wasm-bindgen's output exports a handler or a
// class this file does not know of, or lacks one it wraps.
import { WorkerEntrypoint } from "cloudflare:workers";
import * as exports from "./index.js";

Error.stackTraceLimit = 100;
const initState = exports.__worker_init_state();

function checkReinitialize() {
  if (initState.criticalError) {
    console.log("Reinitializing Wasm application");
    exports.__wbg_reset_state();
    initState.criticalError = false;
    initState.instanceId++;
  }
}

addEventListener("error", (e) => {
  handleMaybeCritical(e.error);
});

function handleMaybeCritical(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    initState.criticalError = true;
  }
}

class Entrypoint extends WorkerEntrypoint {}

Entrypoint.prototype.fetch = function fetch(request) {
  return exports.fetch.call(this, request, this.env, this.ctx);
};

const instanceProxyHooks = {
  set: (target, prop, value, receiver) => Reflect.set(target.instance, prop, value, receiver),
  has: (target, prop) => Reflect.has(target.instance, prop),
  deleteProperty: (target, prop) => Reflect.deleteProperty(target.instance, prop),
  apply: (target, thisArg, args) => Reflect.apply(target.instance, thisArg, args),
  construct: (target, args, newTarget) => Reflect.construct(target.instance, args, newTarget),
  getPrototypeOf: (target) => Reflect.getPrototypeOf(target.instance),
  setPrototypeOf: (target, proto) => Reflect.setPrototypeOf(target.instance, proto),
  isExtensible: (target) => Reflect.isExtensible(target.instance),
  preventExtensions: (target) => Reflect.preventExtensions(target.instance),
  getOwnPropertyDescriptor: (target, prop) => Reflect.getOwnPropertyDescriptor(target.instance, prop),
  defineProperty: (target, prop, descriptor) => Reflect.defineProperty(target.instance, prop, descriptor),
  ownKeys: (target) => Reflect.ownKeys(target.instance),
};

// Every construction and every method call first re-creates the wasm instance if a trap broke it;
// a method that traps marks it broken.
const classProxyHooks = {
  construct(ctor, args, newTarget) {
    try {
      checkReinitialize();
      const instance = {
        instance: Reflect.construct(ctor, args, newTarget),
        instanceId: initState.instanceId,
        ctor,
        args,
        newTarget,
      };
      return new Proxy(instance, {
        ...instanceProxyHooks,
        get(target, prop, receiver) {
          if (target.instanceId !== initState.instanceId) {
            target.instance = Reflect.construct(target.ctor, target.args, target.newTarget);
            target.instanceId = initState.instanceId;
          }
          const original = Reflect.get(target.instance, prop, receiver);
          if (typeof original !== "function") return original;
          if (original.constructor === Function) {
            return new Proxy(original, {
              apply(target, thisArg, argArray) {
                checkReinitialize();
                try {
                  return target.apply(thisArg, argArray);
                } catch (e) {
                  handleMaybeCritical(e);
                  throw e;
                }
              },
            });
          }
          return new Proxy(original, {
            async apply(target, thisArg, argArray) {
              checkReinitialize();
              try {
                return await target.apply(thisArg, argArray);
              } catch (e) {
                handleMaybeCritical(e);
                throw e;
              }
            },
          });
        },
      });
    } catch (e) {
      initState.criticalError = true;
      throw e;
    }
  },
};

export default new Proxy(Entrypoint, classProxyHooks);
export const RotationObject = new Proxy(exports.RotationObject, classProxyHooks);
export const LoginThrottle = new Proxy(exports.LoginThrottle, classProxyHooks);
