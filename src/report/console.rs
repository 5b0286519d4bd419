//! Locust's console tables, character for character: the request table (periodic and final),
//! the percentile table and the error report.

use std::fmt::Write;
use std::io::{IsTerminal, Write as _};

use crate::pyfmt::trunc;
use crate::stats::{PERCENTILES_TO_REPORT, RequestStats, StatsEntry};

/// Writes to stderr. `eprint!` panics when stderr is gone (a closed pipe, a killed `tee`); a
/// load test must finish and write its files regardless, so errors are ignored here.
pub fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes to stdout, ignoring a closed pipe (`locusta --list | head -1`).
pub fn to_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Locust's `STATS_NAME_WIDTH`: 80 when stdout is not a terminal, else `cols - 80` capped to
/// [0, 80]. Stdout, not stderr, although the tables go to stderr: that is what Locust measures.
pub fn name_width() -> usize {
    if !std::io::stdout().is_terminal() {
        return 80;
    }
    terminal_columns().map_or(80, |cols| cols.saturating_sub(80).min(80))
}

fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a plain `winsize` struct for the given descriptor; a zeroed
    // struct is a valid argument and the return code tells whether it was filled.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0)
            .then_some(usize::from(size.ws_col))
    }
}

/// Which rate the table shows: the periodic table shows the current (last ~10 s) rate, the
/// final summary the rate over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rates {
    Current,
    Total,
}

fn request_row(out: &mut String, stats: &RequestStats, e: &StatsEntry, nw: usize, rates: Rates) {
    let (rps, fps) = match rates {
        Rates::Current => stats.current_rates(e),
        Rates::Total => stats.total_rates(e),
    };
    let method = if e.method.is_empty() {
        String::new()
    } else {
        format!("{} ", e.method)
    };
    let fails = format!("{}({:.2}%)", e.num_failures, e.fail_ratio() * 100.0);
    let median = if e.num_requests == 0 { 0.0 } else { e.median() };
    let _ = writeln!(
        out,
        "{:<8} {:<nw$} {:>7} {:>12} |{:>7} {:>7} {:>7}{:>7} | {:>7.2} {:>11.2}",
        method,
        e.name,
        e.num_requests,
        fails,
        trunc(e.avg_response_time()),
        trunc(e.min_response_time.unwrap_or(0.0)),
        trunc(e.max_response_time),
        trunc(median),
        rps,
        fps,
    );
}

/// The request statistics table, followed by an empty line.
pub fn stats_table(stats: &RequestStats, width: usize, rates: Rates) -> String {
    let nw = (width + 4).saturating_sub(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<nw$} {:>7} {:>12} |{:>7} {:>7} {:>7}{:>7} | {:>7} {:>11}",
        "Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Med", "req/s", "failures/s"
    );
    let separator = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}\n",
        "-".repeat(8),
        "-".repeat(nw),
        "-".repeat(7),
        "-".repeat(13),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(8),
        "-".repeat(11)
    );
    out.push_str(&separator);
    for e in stats.entries() {
        request_row(&mut out, stats, e, nw, rates);
    }
    out.push_str(&separator);
    request_row(&mut out, stats, &stats.total, nw, rates);
    out.push('\n');
    out
}

fn percentile_row(out: &mut String, e: &StatsEntry, width: usize) {
    let Some(values) = e.percentiles(&PERCENTILES_TO_REPORT) else {
        return;
    };
    let _ = write!(
        out,
        "{:<8} {:<width$} {:>8} ",
        e.method,
        e.name,
        trunc(values[0])
    );
    let rest: Vec<String> = values[1..]
        .iter()
        .map(|v| format!("{:>6}", trunc(*v)))
        .chain(std::iter::once(format!("{:>6}", e.num_requests)))
        .collect();
    let _ = writeln!(out, "{}", rest.join(" "));
}

/// "Response time percentiles (approximated)" — Locust's title, kept so log scrapers still
/// find it, although our percentiles are not rounded the way Locust's are.
pub fn percentiles_table(stats: &RequestStats, width: usize) -> String {
    let mut out = String::from("Response time percentiles (approximated)\n");
    let titles = [
        "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%", "# reqs",
    ];
    let rest: Vec<String> = titles.iter().map(|t| format!("{t:>6}")).collect();
    let _ = writeln!(
        out,
        "{:<8} {:<width$} {:>8} {}",
        "Type",
        "Name",
        "50%",
        rest.join(" ")
    );
    let mut separator = format!("{}|{}|{}|", "-".repeat(8), "-".repeat(width), "-".repeat(8));
    for _ in 0..11 {
        separator.push_str(&"-".repeat(6));
        separator.push('|');
    }
    separator.pop();
    separator.push('\n');
    out.push_str(&separator);
    for e in stats.entries() {
        percentile_row(&mut out, e, width);
    }
    out.push_str(&separator);
    percentile_row(&mut out, &stats.total, width);
    out.push('\n');
    out
}

/// Locust's console shows a `CatchResponseError('text')` as just `text`.
fn error_for_console(error: &str) -> String {
    let inner = error
        .strip_prefix("CatchResponseError(")
        .and_then(|s| s.strip_suffix(')'))
        .filter(|s| s.len() >= 2);
    match inner {
        Some(lit) => {
            let quote = lit.as_bytes()[0];
            if (quote == b'\'' || quote == b'"') && lit.as_bytes()[lit.len() - 1] == quote {
                lit[1..lit.len() - 1]
                    .replace("\\'", "'")
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\")
            } else {
                error.to_string()
            }
        }
        None => error.to_string(),
    }
}

/// The error report, or an empty string when nothing failed (Locust prints nothing then).
pub fn error_report(stats: &RequestStats, width: usize) -> String {
    if stats.errors().is_empty() {
        return String::new();
    }
    let mut out = String::from("Error report\n");
    let _ = writeln!(out, "{:<18} {:<100}", "# occurrences", "Error");
    let separator = format!("{}|{}\n", "-".repeat(18), "-".repeat(80 + width - 19));
    out.push_str(&separator);
    for e in stats.errors() {
        let text = format!("{} {}: {}", e.method, e.name, error_for_console(&e.error));
        let _ = writeln!(out, "{:<18} {:<100}", e.occurrences, text);
    }
    out.push_str(&separator);
    out.push('\n');
    out
}

/// The final summary: totals table, percentiles, and the error report when there were errors.
pub fn final_summary(stats: &RequestStats, width: usize) -> String {
    let mut out = stats_table(stats, width, Rates::Total);
    out.push_str(&percentiles_table(stats, width));
    out.push_str(&error_report(stats, width));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;

    const LOCUST_EMPTY_TABLE: &str = "\
Type     Name                                                                          # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s
--------|----------------------------------------------------------------------------|-------|-------------|-------|-------|-------|-------|--------|-----------
--------|----------------------------------------------------------------------------|-------|-------------|-------|-------|-------|-------|--------|-----------
         Aggregated                                                                         0     0(0.00%) |      0       0       0      0 |    0.00        0.00

";

    #[test]
    fn empty_table_is_byte_identical_to_locusts() {
        let stats = Stats::new(1, 0.0);
        assert_eq!(
            stats_table(&stats.collect(), 80, Rates::Current),
            LOCUST_EMPTY_TABLE
        );
    }

    #[test]
    fn narrow_terminal_layout_matches_locust() {
        // Locust on a 120-column terminal (misc/console_tty_120cols.txt).
        let stats = Stats::new(1, 0.0);
        let table = stats_table(&stats.collect(), 40, Rates::Current);
        assert_eq!(
            table.lines().next().unwrap(),
            "Type     Name                                  # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s"
        );
    }

    #[test]
    fn catch_response_errors_are_unwrapped_for_the_console() {
        assert_eq!(
            error_for_console("CatchResponseError('Random failure: got wrong content')"),
            "Random failure: got wrong content"
        );
        assert_eq!(error_for_console("CatchResponseError(\"it's\")"), "it's");
        assert_eq!(error_for_console("HTTPError('x')"), "HTTPError('x')");
    }
}
