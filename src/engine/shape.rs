//! A load shape: Locust's `LoadTestShape` loop over the scenario's `stages`. About once a
//! second it asks which stage is running; when the answer changes it starts a new ramp (the
//! ramp in progress, if any, is dropped and the new one starts from the users running, as
//! Locust's runner does), and after the last stage it returns so the run can end.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::runner::Runner;
use crate::scenario::Stage;

/// Runs `stages` to their end; with `reset_stats`, the statistics restart each time a stage's
/// ramp completes, as Locust's `--reset-stats` does on every "spawning complete".
pub async fn run_stages(
    runner: Arc<Runner>,
    stages: Vec<Stage>,
    stop_timeout: Duration,
    reset_stats: bool,
) {
    tracing::info!(target: "locusta.runners", "Shape test starting.");
    let started = Instant::now();
    let mut current: Option<&Stage> = None;
    let mut ramp: Option<JoinHandle<()>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(stage) = Stage::at(&stages, started.elapsed()) else {
            break;
        };
        let same = current.is_some_and(|c| {
            (c.users, c.spawn_rate, &c.user_types)
                == (stage.users, stage.spawn_rate, &stage.user_types)
        });
        if same {
            continue;
        }
        tracing::info!(
            target: "locusta.runners",
            "Shape test updating to {} users at {:.2} spawn rate",
            stage.users,
            stage.spawn_rate
        );
        if let Some(r) = ramp.take() {
            r.abort();
        }
        runner.select_types(stage.user_types.as_deref(), stage.users, stop_timeout);
        let (runner, users, rate) = (runner.clone(), stage.users, stage.spawn_rate);
        ramp = Some(tokio::spawn(async move {
            runner.ramp(users, rate, stop_timeout).await;
            if reset_stats {
                runner.reset_stats();
            }
        }));
        current = Some(stage);
    }
    if let Some(r) = ramp.take() {
        r.abort();
    }
    tracing::info!(target: "locusta.runners", "Shape test stopping");
}

/// The most users any stage asks for (what `{u}` and the report call the users of the run).
pub fn peak_users(stages: &[Stage]) -> u64 {
    stages.iter().map(|s| s.users).max().unwrap_or(0)
}

/// How long the stages take together.
pub fn total_duration(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}
