//! The load engine: virtual users on a tokio runtime, HTTP through locusta's own HTTP/1.1
//! exchange and pool (`h1`, on httparse) for `http://` and reqwest for the rest.
//!
//! The engine records measurements into [`crate::stats`] and logs what Locust's runner logs;
//! it never formats reports.

pub mod arrivals;
mod capture;
mod checks;
pub mod dispatch;
mod errors;
mod h1;
pub mod http;
mod iterations;
mod loopback;
mod reuse;
mod runner;
pub mod shape;
mod sse;
mod stream;
mod timer;
mod user;
pub mod wait;
mod ws;

pub use h1::DEFAULT_IDLE_TIMEOUT;
/// A runner over a small scenario whose users mostly wait, for other modules' tests.
#[cfg(test)]
pub(crate) use runner::tests::runner_recording_into;
pub use runner::{ON_STOP_GRACE, RunConfig, Runner};
