//! The browser adapter: the `AuthClient` of the npm package.
//!
//! A thin layer: `options` reads the JS options object once into the core's config,
//! `runtime` turns fetch, timers, Web Locks, BroadcastChannel, storage and page events into
//! calls of the core's [`Engine`](crate::core::client::Engine) and carries out what it decides,
//! `js` binds the JavaScript plumbing (`glue.js`) everything is built on. The public class itself is
//! JavaScript in `client.js`, forwarding every method to Rust; this file declares the one export
//! it calls, and `types` the package's TypeScript declarations.
//!
//! ```js
//! import init, { AuthClient } from "silent-refresh";
//! await init();
//! const auth = new AuthClient({ baseUrl: "", mode: "cookie" });
//! await auth.restore() || await auth.login("demo", "demo-password");
//! const res = await auth.fetch("/api/me");
//! auth.on("expired", (e) => showLogin(e.error.code));
//! ```
//!
//! Errors thrown or reported are `Error`s with a stable `.code` (and `.status` when an HTTP
//! status caused them): see [`ErrorCode`](crate::core::client::ErrorCode).

#[cfg(feature = "browser")]
mod js;
#[cfg(feature = "browser")]
mod options;
pub mod runtime;
#[cfg(feature = "browser")]
mod types;

#[cfg(feature = "browser")]
use alloc::rc::Rc;
#[cfg(feature = "browser")]
use wasm_bindgen::prelude::*;

#[cfg(feature = "browser")]
use crate::core::client::ClientConfig;
#[cfg(feature = "browser")]
use runtime::{Inner, Settings};

/// The allocator of the browser package: std's dlmalloc is about a quarter of the size budget;
/// this free-list allocator is a tenth of that, and the client allocates little and rarely.
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// The package's panic handler: a trap, without formatting the message (that would pull
/// `::core::fmt` into the wasm). Panics are bugs; a trap surfaces as a `RuntimeError` in JS.
#[cfg(all(feature = "pkg", not(feature = "server"), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}

/// Creates the client behind a new `AuthClient`: `host` is its JavaScript side (the public class
/// is written in `client.js`, which calls this through `connect`). Returns the function every
/// method of the class calls, or the `AuthError` `ERR_INVALID_OPTIONS` to throw.
///
/// The only export besides wasm-bindgen's own: every exported method would cost a shim in the
/// wasm and a wrapper in the JS.
#[cfg(feature = "browser")]
#[wasm_bindgen(skip_typescript)]
pub fn client(host: JsValue) -> JsValue {
    match options::parse(host.unchecked_into()) {
        Ok((config, settings)) => create(config, settings),
        Err(e) => e,
    }
}

/// The closures handed to JavaScript: the dispatcher, `(tag, value) => ...`
/// ([`Inner::dispatch`]), and the owner, `(method, a, b) => result` ([`Inner::call`]). One type
/// for both: every closure type costs its own shims.
#[cfg(feature = "browser")]
type Dispatcher = Closure<dyn Fn(u32, JsValue, JsValue) -> JsValue>;

/// The owner of a client: held (through the owner closure) by the public `AuthClient` only, so
/// that the client is disposed when that object is garbage-collected.
#[cfg(feature = "browser")]
struct Owner(Rc<Inner<js::Host>>);

#[cfg(feature = "browser")]
impl Drop for Owner {
    fn drop(&mut self) {
        self.0.dispose();
    }
}

/// Installs the client's dispatcher, wake-up listeners and channel; returns the owner closure.
/// Both closures are handed to JavaScript, which frees them with the functions (the dispatcher
/// holds the client weakly: a late callback finds it gone).
#[cfg(feature = "browser")]
fn create(config: ClientConfig, settings: Settings<js::Host>) -> JsValue {
    let timeout = settings.timeout_ms;
    let me = Rc::new(Inner::new(config, settings));
    let weak = Rc::downgrade(&me);
    let dispatcher: Dispatcher = Closure::new(move |tag: u32, value: JsValue, _: JsValue| {
        let Some(me) = weak.upgrade() else {
            return JsValue::UNDEFINED;
        };
        me.dispatch(tag, value)
    });
    me.host().open_(&dispatcher.into_js_value(), timeout);
    let owner = Owner(me);
    let call: Dispatcher = Closure::new(move |method, a, b| owner.0.call(method, a, b));
    call.into_js_value()
}
