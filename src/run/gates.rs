//! Thresholds during and after a run: the early check of the aborting ones, the verdict at the
//! end, and the exit code that follows from it.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::gate::{self, EXIT_GATE_FAILED, Metric, Outcome, Target, Threshold};
use crate::stats::RequestStats;

/// The thresholds that may stop a run early, checked once a second.
pub struct AbortCheck {
    thresholds: Vec<Threshold>,
    started: Instant,
    /// Cancelled when one fails: the run then ends.
    pub tripped: CancellationToken,
}

impl AbortCheck {
    pub fn new(thresholds: &[Threshold]) -> AbortCheck {
        AbortCheck {
            thresholds: thresholds
                .iter()
                .filter(|t| t.abort_after.is_some())
                .cloned()
                .collect(),
            started: Instant::now(),
            tripped: CancellationToken::new(),
        }
    }

    pub fn check(&self, stats: &RequestStats) {
        if self.tripped.is_cancelled() {
            return;
        }
        let elapsed = self.started.elapsed();
        let due: Vec<Threshold> = self
            .thresholds
            .iter()
            .filter(|t| t.abort_after.is_some_and(|after| elapsed >= after))
            .cloned()
            .collect();
        if let Some(failed) = gate::evaluate(&due, stats)
            .into_iter()
            .find(Outcome::failed)
        {
            warn!(
                target: "locusta.main",
                "Threshold `{}` failed for {} ({}): stopping the run",
                failed.threshold.text,
                failed.endpoint,
                failed.actual_text()
            );
            self.tripped.cancel();
        }
    }
}

/// locust-plugins' log lines for its `--check-*` options, so CI logs read the same.
pub fn log_plugin_checks(outcomes: &[Outcome]) {
    for o in outcomes {
        let (Some(_), Some(actual)) = (o.threshold.plugin_check, o.actual) else {
            continue;
        };
        let verdict = if o.failed() {
            "CHECK FAILED"
        } else {
            "CHECK SUCCESSFUL"
        };
        let limit = o.threshold.limit;
        let line = match o.threshold.metric {
            Metric::ErrorRate => format!(
                "{verdict}: fail ratio was {:.2}% (threshold {:.2}%)",
                actual * 100.0,
                limit * 100.0
            ),
            Metric::Rps => format!("{verdict}: total rps was {actual:.1} (threshold {limit:.1})"),
            _ => format!("{verdict}: avg response time was {actual:.1} (threshold {limit:.1})"),
        };
        if o.failed() {
            info!(target: "root", "{line}");
        } else {
            tracing::debug!(target: "root", "{line}");
        }
    }
}

/// The exit code: 3 when a threshold failed or stopped the run; else 1 (or
/// `--exit-code-on-error`) when anything failed, unless an error-rate threshold on all
/// requests judges the failures instead (as locust-plugins' `--check-fail-ratio` does).
pub fn exit_code(
    outcomes: &[Outcome],
    aborted: bool,
    has_failures: bool,
    exit_code_on_error: i32,
) -> i32 {
    if aborted || outcomes.iter().any(Outcome::failed) {
        return EXIT_GATE_FAILED;
    }
    let failures_judged = outcomes
        .iter()
        .any(|o| o.threshold.target == Target::All && o.threshold.metric == Metric::ErrorRate);
    if has_failures && !failures_judged {
        exit_code_on_error
    } else {
        0
    }
}
