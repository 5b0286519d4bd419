//! How many users run when: `-u`/`-r`/`-t` (a ramp, then a steady load until the run time is
//! up), or a load shape (`stages` in the scenario, or `--stages`), which sets the users stage
//! by stage and ends the run itself.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::engine::shape::{self, run_stages};
use crate::scenario::{Scenario, Stage};

use super::options::TestOptions;
use super::users::Users;

/// Why the test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    RunTime,
    /// The last stage of the load shape ended.
    ShapeDone,
    /// `-i` used up and every user stopped.
    Iterations,
    /// A threshold that stops the run failed.
    ThresholdFailed,
    /// Every worker of a master quit or went missing.
    WorkersGone,
    Interrupted(&'static str),
    /// Stopped from the web UI or its API.
    Requested,
}

impl Ending {
    /// As the JSON summary names it.
    pub fn name(&self) -> &'static str {
        match self {
            Ending::RunTime => "run_time",
            Ending::ShapeDone => "shape_completed",
            Ending::Iterations => "iterations",
            Ending::ThresholdFailed => "threshold_failed",
            Ending::WorkersGone => "workers_gone",
            Ending::Interrupted(_) => "interrupted",
            Ending::Requested => "stopped",
        }
    }
}

pub enum Load {
    Steady {
        users: u64,
        spawn_rate: f64,
        run_time: Option<Duration>,
    },
    Shape(Vec<Stage>),
}

impl Load {
    /// The load the options and scenario ask for (their stages over the scenario's).
    pub fn new(test: &TestOptions, scenario: &Scenario) -> Load {
        let stages = test
            .stages
            .clone()
            .unwrap_or_else(|| scenario.stages.clone());
        if stages.is_empty() {
            Load::Steady {
                users: test.users.unwrap_or(1),
                spawn_rate: test.spawn_rate,
                run_time: test.run_time,
            }
        } else {
            Load::Shape(stages)
        }
    }

    /// What Locust logs as a test starts: how long it lasts, and the options a shape ignores.
    pub fn announce(&self, test: &TestOptions) {
        match self {
            Load::Steady {
                run_time: Some(t), ..
            } => info!(target: "locusta.main", "Run time limit set to {} seconds", t.as_secs()),
            Load::Steady { run_time: None, .. } => {
                info!(target: "locusta.main", "No run time limit set, use CTRL+C to interrupt")
            }
            Load::Shape(_) => {
                let ignored: Vec<&str> = [
                    (test.users.is_some(), "--users"),
                    (test.run_time.is_some(), "--run-time"),
                ]
                .iter()
                .filter_map(|&(given, name)| given.then_some(name))
                .collect();
                if !ignored.is_empty() {
                    warn!(
                        target: "locusta.main",
                        "--run-time, --users or --spawn-rate have no impact on a run with stages: the stages set the users and end the run."
                    );
                    warn!(target: "locusta.main", "The following option(s) will be ignored: {}", ignored.join(", "));
                }
            }
        }
    }

    /// The most users the run asks for.
    pub fn users(&self) -> u64 {
        match self {
            Load::Steady { users, .. } => *users,
            Load::Shape(stages) => shape::peak_users(stages),
        }
    }

    /// The spawn rate of a steady run, or of the shape's first stage.
    pub fn spawn_rate(&self) -> f64 {
        match self {
            Load::Steady { spawn_rate, .. } => *spawn_rate,
            Load::Shape(stages) => stages.first().map_or(1.0, |s| s.spawn_rate),
        }
    }

    /// How long the run lasts unless interrupted; `None`: until interrupted.
    pub fn run_time(&self) -> Option<Duration> {
        match self {
            Load::Steady { run_time, .. } => *run_time,
            Load::Shape(stages) => Some(shape::total_duration(stages)),
        }
    }

    /// A steady load's ramp to its users (then `--reset-stats`); `None` for a shape, whose
    /// stages move the users themselves.
    pub fn ramp(&self, users: &Users, test: &TestOptions) -> Option<JoinHandle<()>> {
        let Load::Steady {
            users: target,
            spawn_rate,
            ..
        } = *self
        else {
            return None;
        };
        let (users, stop_timeout, reset) = (users.clone(), test.stop_timeout, test.reset_stats);
        Some(tokio::spawn(async move {
            users.ramp(target, spawn_rate, stop_timeout).await;
            if reset {
                users.reset_stats();
            }
        }))
    }

    /// Resolves when the load itself ends the test (run time up, last stage over); never for
    /// a steady load without a run time.
    pub async fn until_done(&self, users: &Users, test: &TestOptions) -> Ending {
        match self {
            Load::Steady { run_time, .. } => {
                match run_time {
                    Some(d) => tokio::time::sleep(*d).await,
                    None => std::future::pending().await,
                }
                Ending::RunTime
            }
            Load::Shape(stages) => {
                let Users::Local(runner) = users else {
                    // Refused before the run starts: a master runs steady loads only.
                    return Ending::ShapeDone;
                };
                run_stages(
                    runner.clone(),
                    stages.clone(),
                    test.stop_timeout,
                    test.reset_stats,
                )
                .await;
                Ending::ShapeDone
            }
        }
    }
}
