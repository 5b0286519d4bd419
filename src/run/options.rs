//! A test as plain options: what the command line builds today, and what a web form or a
//! master's message will build, so that the run layer never reads the command line's
//! `Settings` (issue 16: one controller that the CLI, the page and the master all drive).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Settings;
use crate::gate::Threshold;
use crate::report::csv::Precision;
use crate::scenario::Stage;

/// How one test runs: the load and how users stop.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOptions {
    /// `None` when not given: a run then uses 1 user, as Locust's headless mode does.
    pub users: Option<u64>,
    pub spawn_rate: f64,
    /// `None`: until stopped.
    pub run_time: Option<Duration>,
    /// A load shape that replaces the scenario's stages.
    pub stages: Option<Vec<Stage>>,
    pub stop_timeout: Duration,
    /// Reset the statistics each time spawning completes.
    pub reset_stats: bool,
    /// Replaces every user type's host (`-H`, the web form's host).
    pub host: Option<String>,
    /// The user types to run, by name; empty: all (or the command line's selection).
    pub user_types: Vec<String>,
}

/// The files and outputs a finished test leaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub csv_prefix: Option<String>,
    pub csv_full_history: bool,
    pub csv_precision: Precision,
    /// The HTML report's file name, placeholders not yet filled in.
    pub html: Option<String>,
    /// Locust's `--json` on stdout.
    pub json: bool,
    /// Locust's `--json-file`: the name before `.json`.
    pub json_file: Option<String>,
    pub summary_json: Option<PathBuf>,
    pub run_sheet: Option<PathBuf>,
}

impl Outputs {
    /// Whether any output records the machine and the tested project's commit.
    pub fn records_facts(&self) -> bool {
        self.run_sheet.is_some() || self.html.is_some() || self.summary_json.is_some()
    }
}

/// Everything a run needs besides the scenario and the engine's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The scenario file, as given.
    pub scenario_file: PathBuf,
    pub test: TestOptions,
    pub outputs: Outputs,
    /// Given on the command line; the scenario's own come on top.
    pub thresholds: Vec<Threshold>,
    /// Print the table every 2 seconds.
    pub print_tables: bool,
    /// The exit code when anything failed.
    pub exit_code_on_error: i32,
}

impl From<&Settings> for RunOptions {
    fn from(s: &Settings) -> RunOptions {
        RunOptions {
            scenario_file: s.scenario.clone(),
            test: TestOptions {
                users: s.users,
                spawn_rate: s.spawn_rate,
                run_time: s.run_time,
                stages: s.stages.clone(),
                stop_timeout: s.stop_timeout,
                reset_stats: s.reset_stats,
                host: s.host.clone(),
                user_types: s.user_types.clone(),
            },
            outputs: Outputs {
                csv_prefix: s.csv_prefix.clone(),
                csv_full_history: s.csv_full_history,
                csv_precision: if s.csv_precise {
                    Precision::Exact
                } else {
                    Precision::Locust
                },
                html: s.html.clone(),
                json: s.json,
                json_file: s.json_file.clone(),
                summary_json: s.summary_json.clone(),
                run_sheet: s.run_sheet.clone(),
            },
            thresholds: s.thresholds.clone(),
            print_tables: !s.only_summary,
            exit_code_on_error: s.exit_code_on_error,
        }
    }
}
