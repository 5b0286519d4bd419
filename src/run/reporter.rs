//! What happens every second of a run: fold the shards in, keep the history the HTML report
//! charts, rewrite the CSV files, watch locusta's own CPU, and every other second print the table.

use std::sync::Arc;

use tracing::{error, warn};

use crate::machine::CpuMeter;
use crate::report::console::{self, Rates};
use crate::report::csv::CsvFiles;
use crate::stats::history::History;
use crate::stats::{RequestStats, Stats, unix_now};

use super::gates::AbortCheck;
use super::users::Users;

/// Above this share of the machine's CPU, the load generator's own timing is suspect.
const CPU_WARNING_PERCENT: f64 = 90.0;

/// What one tick saw, for readers that must not take the statistics' lock (the web UI): a
/// copy made once a second, whatever the number of readers.
#[derive(Debug, Clone)]
pub struct Shared {
    pub stats: Arc<RequestStats>,
    pub history: Arc<History>,
    pub users: usize,
}

pub struct Reporter {
    stats: Arc<Stats>,
    /// Thresholds that stop the run when they fail.
    pub abort_check: Option<AbortCheck>,
    /// Whose users the table counts; a new test may bring new ones.
    pub users: Users,
    /// Set when a web UI reads the statistics: each tick then leaves a copy here.
    pub share: bool,
    pub shared: Option<Shared>,
    pub csv: Option<CsvFiles>,
    pub history: History,
    cpu: CpuMeter,
    cpu_warned: bool,
    print_tables: bool,
    width: usize,
    ticks: u64,
    csv_error_logged: bool,
}

impl Reporter {
    pub fn new(
        stats: Arc<Stats>,
        users: Users,
        csv: Option<CsvFiles>,
        print_tables: bool,
    ) -> Reporter {
        Reporter {
            stats,
            abort_check: None,
            users,
            share: false,
            shared: None,
            csv,
            history: History::default(),
            cpu: CpuMeter::new(),
            cpu_warned: false,
            print_tables,
            width: console::name_width(),
            ticks: 0,
            csv_error_logged: false,
        }
    }

    /// A new copy for readers now, between ticks: after a reset or a new test, so nobody
    /// reads the old test's numbers under the new test's state.
    pub fn refresh_shared(&mut self) {
        if self.share {
            self.shared = Some(Shared {
                stats: Arc::new(self.stats.copy()),
                history: Arc::new(self.history.clone()),
                users: self.users.user_count(),
            });
        }
    }

    pub fn tick(&mut self) {
        let users = self.users.user_count();
        let cpu = self.cpu.sample();
        if let Some(percent) = cpu.filter(|p| *p > CPU_WARNING_PERCENT)
            && !self.cpu_warned
        {
            // Locust's warning, with the share measured across every core locusta runs on.
            warn!(
                target: "locusta.runners",
                "CPU usage above {CPU_WARNING_PERCENT:.0}% ({percent:.0}% of all cores)! This may constrain your throughput and may even give inconsistent response time measurements! Run locusta on a machine with more cores, or with fewer users."
            );
            self.cpu_warned = true;
        }
        let now = unix_now();
        let state = self.stats.collect();
        self.history.record(&state, users, cpu, now);
        if self.share {
            self.shared = Some(Shared {
                stats: Arc::new(state.clone()),
                history: Arc::new(self.history.clone()),
                users,
            });
        }
        if let Some(check) = &self.abort_check {
            check.check(&state);
        }
        if let Some(files) = self.csv.as_mut()
            && let Err(e) = files.write(&state, users, now)
            && !self.csv_error_logged
        {
            error!(target: "locusta.main", "cannot write the CSV files: {e}");
            self.csv_error_logged = true;
        }
        if self.print_tables && self.ticks.is_multiple_of(2) {
            let table = console::stats_table(&state, self.width, Rates::Current);
            drop(state);
            console::to_stderr(&table);
        }
        self.ticks += 1;
    }
}
