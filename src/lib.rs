//! silent-refresh: refresh tokens done right at the edge.
//!
//! One crate, three layers:
//! - [`core`]: platform-free logic (no I/O, time passed in): refresh scheduling and error
//!   classification for clients; rotation, reuse detection, the KV record layout and access-token
//!   signing for servers (feature `server`, on by default).
//! - `browser` (feature `browser`): the wasm-bindgen adapter published as the npm package.
//! - `worker` (feature `worker`): the Cloudflare Worker adapter (routing, KV, HTTP).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;

#[cfg(feature = "browser")]
pub mod browser;

#[cfg(feature = "worker")]
pub mod worker;
