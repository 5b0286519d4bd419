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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::runner::tests::runner;

    fn stage(secs: u64, users: u64, spawn_rate: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            users,
            spawn_rate,
            user_types: None,
        }
    }

    /// On paused time: each stage's users arrive at its rate within the second it starts,
    /// and the shape returns once the stages' time is up.
    #[tokio::test(start_paused = true)]
    async fn stages_move_the_users_and_end_on_time() {
        let r = runner();
        let started = Instant::now();
        let shape = tokio::spawn(run_stages(
            r.clone(),
            vec![stage(2, 4, 4.0), stage(2, 8, 8.0), stage(2, 2, 10.0)],
            Duration::ZERO,
            false,
        ));
        let mut seen = Vec::new();
        for at in [1500, 3500, 5500] {
            tokio::time::sleep_until(started + Duration::from_millis(at)).await;
            seen.push(r.user_count());
        }
        shape.await.unwrap();
        assert_eq!(seen, [4, 8, 2]);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(6) && took <= Duration::from_secs(7),
            "{took:?}"
        );
        r.stop(Duration::ZERO).await;
    }

    /// The slowest rate the command line accepts: one user at once, the next due in 11 days;
    /// the stage still ends when its time is up.
    #[tokio::test(start_paused = true)]
    async fn the_slowest_rate_still_ends_with_its_stage() {
        let r = runner();
        let started = Instant::now();
        run_stages(
            r.clone(),
            vec![stage(3, 5, crate::limits::MIN_SPAWN_RATE)],
            Duration::ZERO,
            false,
        )
        .await;
        assert_eq!(r.user_count(), 1);
        assert!(started.elapsed() <= Duration::from_secs(4));
        r.stop(Duration::ZERO).await;
    }
}
