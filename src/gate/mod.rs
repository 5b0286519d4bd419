//! Gating CI on results: thresholds judged on a run, and two runs compared.
//!
//! Gates read statistics and return verdicts; the report modules print them.

pub mod compare;
pub mod threshold;

pub use threshold::{Metric, Op, Outcome, Target, Threshold, Verdict, evaluate};

/// Exit code when a threshold or a comparison fails (locust-plugins' `--check-*` use 3 too),
/// apart from 1 for "requests failed" and 2 for bad input.
pub const EXIT_GATE_FAILED: i32 = 3;
