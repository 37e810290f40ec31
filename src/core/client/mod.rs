//! The browser package's client, every decision of it: which requests get the token, when to
//! refresh, what a response means, how long to back off, how many refreshes a minute to allow,
//! what the options mean.
//!
//! Nothing here touches a browser. Time is a parameter (`now`, milliseconds on the caller's
//! elapsed-time clock, see [`ElapsedClock`]), randomness is a parameter (`random` in `[0, 1)`),
//! and every result arrives as a value. The browser runtime (`src/browser/runtime`, generic over
//! its host) asks the [`Engine`] and carries out what it decides.
//!
//! - [`options`]: the options' names and defaults.
//! - [`interface`]: the numbers and names the Rust and the JavaScript halves of the browser
//!   package exchange (the JavaScript copy is checked by a test).
//! - [`config`]: [`ClientConfig`], the decision parameters with their defaults.
//! - [`schedule`]: token lifetime, refresh margin and refresh time.
//! - [`classify`]: what a failed refresh means (retry, session over, rejected).
//! - [`backoff`]: capped exponential backoff with jitter, and the [`CircuitBreaker`].
//! - [`error`]: [`ErrorCode`], the stable codes thrown to JavaScript.
//! - [`engine`]: [`Engine`], the session's decisions (single-flight, replay, discarding results
//!   that arrive after logout).

pub mod backoff;
pub mod classify;
pub mod config;
pub mod engine;
pub mod error;
pub mod interface;
pub mod options;
pub mod schedule;

pub use backoff::CircuitBreaker;
pub use classify::{Failure, StatusSet, Verdict};
pub use config::{ClientConfig, Transport};
pub use engine::{Begin, Engine, Finished, LockCheck, Outcome, Step, Ticket};
pub use error::ErrorCode;
pub use interface::{Endpoint, EventKind, Source};
pub use schedule::{ElapsedClock, Secret};
