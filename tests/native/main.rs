//! The native test suite: one test crate (one link of the library on a 2-core machine instead of
//! one per file), a module per concern. `cargo test` runs it; `cargo test server_rotation::`
//! runs one module.

mod client_engine;
mod client_fake;
mod client_interface;
mod client_policy;
mod client_runtime;
mod client_session_end;
mod cost;
mod exhaustive;
mod fuzz_regressions;
mod server_access;
mod server_common;
mod server_config;
mod server_dpop;
mod server_dpop_binding;
mod server_faults;
mod server_hardening;
mod server_oidc;
mod server_ops;
mod server_robustness;
mod server_rotation;
mod server_routes;
mod server_secrets;
mod sim_model;
mod simulation;
