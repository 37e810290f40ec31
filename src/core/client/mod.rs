//! Client-side logic of the browser package: when to refresh, how to classify failures, how
//! long to back off, and how many refreshes a minute to allow.
//!
//! Nothing here touches a browser. Time is a parameter (`now`, milliseconds on the caller's
//! *monotonic* clock, `performance.now()` in the browser), randomness is a parameter (`random`
//! in `[0, 1)`), and every network result arrives as a value. The adapter in `src/browser`
//! performs the effects the [`Engine`] asks for: sending requests, arming one timer, awaiting
//! an in-flight refresh, emitting events.
//!
//! - [`config`]: [`ClientConfig`], the decision parameters with their defaults.
//! - [`schedule`]: token lifetime, refresh margin and refresh time.
//! - [`classify`]: what a failed refresh means (retry, session over, rejected).
//! - [`backoff`]: capped exponential backoff with jitter, and the [`CircuitBreaker`].
//! - [`error`]: [`ErrorCode`], the stable codes thrown to JavaScript.
//! - [`engine`]: [`Engine`], the state machine tying them together (single-flight, replay,
//!   discarding results that arrive after logout).

pub mod backoff;
pub mod classify;
pub mod config;
pub mod engine;
pub mod error;
pub mod schedule;

pub use backoff::CircuitBreaker;
pub use classify::{Failure, Verdict};
pub use config::{ClientConfig, Transport};
pub use engine::{Begin, Engine, Finished, LockCheck, Outcome, Step, Ticket};
pub use error::ErrorCode;
pub use schedule::{ElapsedClock, Secret};
