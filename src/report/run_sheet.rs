//! The run's data sheet: the CisTrade guide's "Benchmark Data Sheet" with every field locusta
//! knows filled in, and the ones only a person can fill left as blanks.

use std::fmt::Write;

use crate::machine::Machine;
use crate::pyfmt;
use crate::stats::RequestStats;

/// What the sheet records about the run itself.
pub struct RunFacts<'a> {
    pub started_utc: String,
    pub tester: &'a str,
    pub scenario: &'a str,
    pub user_types: &'a [String],
    pub host: &'a str,
    pub users: u64,
    pub spawn_rate: f64,
    pub run_time: Option<u64>,
    pub ran_seconds: u64,
    pub version: &'a str,
    pub git_commit: Option<&'a str>,
    pub machine: &'a Machine,
    pub exit_code: i32,
}

pub fn render(f: &RunFacts<'_>, stats: &RequestStats) -> String {
    let total = &stats.total;
    let (rps, _) = stats.total_rates(total);
    let p95 = total
        .percentile(0.95)
        .map_or("n/a".to_string(), |v| format!("{v:.1}"));
    let mut s = String::new();
    let _ = writeln!(s, "BENCHMARK DATA SHEET\n====================\n");
    let _ = writeln!(s, "Date: {}", f.started_utc);
    let _ = writeln!(s, "Tester: {}", f.tester);
    let _ = writeln!(
        s,
        "Scenario: {} ({})\n",
        f.scenario,
        f.user_types.join(", ")
    );
    let _ = writeln!(s, "## Environment");
    let _ = writeln!(s, "- Target host: {}", f.host);
    let _ = writeln!(
        s,
        "- Load generator: {} ({})",
        f.machine.hostname, f.machine.os
    );
    let _ = writeln!(
        s,
        "- Load generator CPU: {} ({} cores)",
        f.machine.cpu_model, f.machine.cores
    );
    let _ = writeln!(
        s,
        "- Load generator RAM: {:.1} GiB",
        f.machine.memory_bytes as f64 / (1u64 << 30) as f64
    );
    let _ = writeln!(s, "- locusta version: {}", f.version);
    let _ = writeln!(
        s,
        "- Git commit: {}",
        f.git_commit.unwrap_or("(not in a git repository)")
    );
    let _ = writeln!(s, "- Server CPU / RAM / database: ___________\n");
    let _ = writeln!(s, "## Configuration");
    let _ = writeln!(s, "- Users: {}", f.users);
    let _ = writeln!(s, "- Spawn Rate: {}", pyfmt::int_or_float(f.spawn_rate));
    let planned = f
        .run_time
        .map_or("until interrupted".to_string(), |t| format!("{t} s"));
    let _ = writeln!(
        s,
        "- Duration: {planned} (ran {})",
        pyfmt::duration_words(f.ran_seconds)
    );
    let _ = writeln!(
        s,
        "- Test Data Size: _____ portfolios, _____ UDFs, _____ counterparties\n"
    );
    let _ = writeln!(s, "## Results");
    let _ = writeln!(s, "- Total Requests: {}", total.num_requests);
    let _ = writeln!(s, "- Failed Requests: {}", total.num_failures);
    let _ = writeln!(s, "- Requests/Second: {rps:.2}");
    let _ = writeln!(
        s,
        "- Average Response Time: {:.1}ms",
        total.avg_response_time()
    );
    let _ = writeln!(s, "- 95th Percentile: {p95}ms");
    let _ = writeln!(s, "- Error Rate: {:.2}%", total.fail_ratio() * 100.0);
    let _ = writeln!(s, "- Exit code: {}\n", f.exit_code);
    let _ = writeln!(
        s,
        "## Resource Usage (Peak)\n- CPU: _____%\n- Memory: _____%\n- Disk I/O: _____%\n- DB Connections: _____\n"
    );
    let _ = writeln!(s, "## Issues Found\n1. ___________\n2. ___________\n");
    let _ = writeln!(s, "## Action Items\n1. ___________\n2. ___________");
    s
}
