//! silent-refresh: refresh tokens done right at the edge.
//!
//! One crate, three layers:
//! - [`core`]: platform-free logic (no I/O, time passed in): the browser client's
//!   decisions as a state machine ([`core::client`]); rotation, reuse
//!   detection, the KV record layout and access-token signing for servers (feature `server`, on by
//!   default).
//! - `browser` (feature `browser`): the wasm-bindgen adapter published as the npm package; its
//!   runtime, generic over its host, is also compiled natively for tests.
//! - `worker` (feature `worker`): the Cloudflare Worker adapter (routing, KV, HTTP).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The browser package is `no_std` (with `alloc`): std's panic and formatting machinery would be
// a fifth of its size budget. Everything else (server, Worker, native tests) keeps std.
#![cfg_attr(all(feature = "browser", not(feature = "server"), not(test)), no_std)]

extern crate alloc;

/// The platform-free layer. Its name is the layout's (`src/core`), and it shadows the language's
/// `core` crate inside this crate: code here names this module `crate::core` and the language
/// crate `::core` (e.g. `::core::cell::Cell`), never a bare `core::`.
pub mod core;

/// Compiled natively too (without its wasm-bindgen half), so that native tests drive the shipped
/// runtime through a fake host.
#[cfg(any(feature = "browser", not(target_arch = "wasm32")))]
pub mod browser;

#[cfg(feature = "worker")]
pub mod worker;
