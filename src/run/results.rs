//! The files a finished run leaves: CSV files (final version), run sheet, HTML report, and the
//! JSON outputs (Locust's `--json`/`--json-file`, locusta's `--summary-json`).

use std::path::Path;
use std::time::Duration;

use tracing::{error, info};

use super::VERSION;
use super::options::Outputs;
use crate::engine::RunConfig;
use crate::gate::Outcome;
use crate::machine::Machine;
use crate::pyfmt;
use crate::report::console;
use crate::report::csv::{CsvFiles, replace_file};
use crate::report::data::{ReportData, RunInfo};
use crate::report::json::{self, Summary};
use crate::report::{html, run_sheet};
use crate::scenario::{Scenario, plan};
use crate::stats::RequestStats;
use crate::stats::history::History;

/// What the result files say about a run that ended.
pub(super) struct FinishedRun<'a> {
    pub outputs: &'a Outputs,
    pub scenario: &'a Scenario,
    pub config: &'a RunConfig,
    /// The most users the run asked for.
    pub users: u64,
    pub spawn_rate: f64,
    /// Planned: `-t`, or the stages' total; `None`: until interrupted.
    pub run_time: Option<Duration>,
    /// Unix seconds.
    pub started: f64,
    pub ended: f64,
    pub ran_seconds: u64,
    pub user_counts: Vec<(String, u64)>,
    pub machine: Machine,
    pub git_commit: Option<String>,
    /// Why it ended, as the summary names it.
    pub ending: &'static str,
    pub exit_code: i32,
    pub outcomes: Vec<Outcome>,
    pub history: History,
}

impl FinishedRun<'_> {
    fn host(&self) -> String {
        self.config
            .host
            .clone()
            .or_else(|| self.scenario.host.clone())
            .unwrap_or_else(|| "(per user type)".to_string())
    }

    /// Writes every file the outputs ask for; a file that cannot be written is logged and
    /// the others are still written.
    pub fn write_files(&self, state: &RequestStats, mut csv: Option<CsvFiles>) {
        if let Some(files) = csv.as_mut()
            && let Err(e) = files.write(state, 0, self.ended)
        {
            error!(target: "locusta.main", "cannot write the final CSV files: {e}");
        }
        if let Some(path) = &self.outputs.run_sheet {
            write_run_sheet(path, self, state);
        }
        if self.outputs.json {
            // Locust prints it with `print`: one trailing newline.
            console::to_stdout(&format!("{}\n", json::locust_stats(state)));
        }
        if let Some(name) = &self.outputs.json_file {
            let path = format!("{name}.json");
            write_file(
                Path::new(&path),
                json::locust_stats(state).as_bytes(),
                "the --json-file",
            );
        }
        if self.outputs.html.is_none() && self.outputs.summary_json.is_none() {
            return;
        }
        let data = self.report_data(state);
        if let Some(template) = &self.outputs.html {
            let path = html::expand_filename(
                template,
                Some(self.users),
                Some(self.spawn_rate),
                self.run_time.map(|d| d.as_secs()),
            );
            if write_file(
                Path::new(&path),
                html::render(&data).as_bytes(),
                "the HTML report",
            ) {
                info!(target: "locusta.main", "Wrote the HTML report to {path}");
            }
        }
        if let Some(path) = &self.outputs.summary_json {
            let summary = Summary::new(
                &data,
                self.ending,
                self.exit_code,
                self.run_time.map(|d| d.as_secs()),
            );
            write_file(
                path,
                summary.to_json().as_bytes(),
                "the --summary-json file",
            );
        }
    }

    /// What the report and the summary show.
    fn report_data(&self, state: &RequestStats) -> ReportData {
        let tags = &self.config.tags;
        let types = &self.config.user_types;
        let ratios = (
            plan::ratios(self.scenario, types, Some(self.users), tags, false),
            plan::ratios(self.scenario, types, Some(self.users), tags, true),
        );
        let info = RunInfo {
            scenario: Some(self.scenario.path.display().to_string()),
            host: Some(self.host()),
            users: Some(self.users),
            spawn_rate: Some(self.spawn_rate),
            run_time: Some(match self.run_time {
                Some(t) => pyfmt::duration_words(t.as_secs()),
                None => "until interrupted".to_string(),
            }),
            started: Some(self.started),
            ended: Some(self.ended),
            generator: format!("locusta {VERSION}"),
            git_commit: self.git_commit.clone(),
            machine: Some(self.machine.describe()),
            user_counts: self.user_counts.clone(),
        };
        let mut data = ReportData::from_run(info, state, &self.history, Some(ratios));
        data.thresholds = self.outcomes.clone();
        data
    }
}

/// Writes a whole file (folders created, replaced atomically); `false` after logging why not.
fn write_file(path: &Path, bytes: &[u8], what: &str) -> bool {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        error!(target: "locusta.main", "cannot write {what} {}: {e}", path.display());
        return false;
    }
    match replace_file(path, bytes) {
        Ok(()) => true,
        Err(e) => {
            error!(target: "locusta.main", "cannot write {what} {}: {e}", path.display());
            false
        }
    }
}

fn write_run_sheet(path: &Path, run: &FinishedRun<'_>, state: &RequestStats) {
    let user_types: Vec<String> = run
        .config
        .user_types
        .iter()
        .map(|&i| run.scenario.user_types[i].name.clone())
        .collect();
    let host = run.host();
    let tester = std::env::var("USER").unwrap_or_else(|_| "___________".to_string());
    let facts = run_sheet::RunFacts {
        started_utc: chrono::DateTime::<chrono::Utc>::from_timestamp(run.started as i64, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default(),
        tester: &tester,
        scenario: &run.scenario.path.display().to_string(),
        user_types: &user_types,
        host: &host,
        users: run.users,
        spawn_rate: run.spawn_rate,
        run_time: run.run_time.map(|d| d.as_secs()),
        ran_seconds: run.ran_seconds,
        version: VERSION,
        git_commit: run.git_commit.as_deref(),
        machine: &run.machine,
        exit_code: run.exit_code,
    };
    write_file(
        path,
        run_sheet::render(&facts, state).as_bytes(),
        "the run sheet",
    );
}
