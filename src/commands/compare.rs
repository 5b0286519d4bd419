//! `locusta compare BASELINE LATEST`: per endpoint, the change of each metric between two runs,
//! as a table, Markdown or JSON; with limits, a gate whose exit code is 3 on a regression.

use std::path::Path;

use crate::cli::{CompareArgs, CompareFormat};
use crate::gate::EXIT_GATE_FAILED;
use crate::gate::compare::{Limits, compare as compare_runs};
use crate::report::console::{to_stderr, to_stdout};
use crate::report::csv::replace_file;
use crate::report::data::{ReportData, csv_prefix};
use crate::report::verdicts;
use crate::run::EXIT_USAGE;

fn load(input: &Path) -> Result<ReportData, String> {
    let prefix = csv_prefix(input)?;
    let mut data = ReportData::from_csv(&prefix)?;
    data.info.generator = input.display().to_string();
    Ok(data)
}

pub fn compare(args: &CompareArgs) -> i32 {
    let (baseline, latest) = match (load(&args.baseline), load(&args.latest)) {
        (Ok(b), Ok(l)) => (b, l),
        (Err(e), _) | (_, Err(e)) => {
            to_stderr(&format!("locusta: error: {e}\n"));
            return EXIT_USAGE;
        }
    };
    let all = args.max_regression;
    let limits = Limits {
        median: args.median.or(all),
        p95: args.p95.or(all),
        p99: args.p99.or(all),
        average: args.average.or(all),
        rps: args.rps.or(all),
        failure_rate: args.failure_rate,
        min_requests: args.min_requests,
    };
    let comparison = compare_runs(&baseline, &latest, &limits);
    let text = match args.format {
        CompareFormat::Table => verdicts::comparison_table(&comparison),
        CompareFormat::Markdown => verdicts::comparison_markdown(&comparison),
        CompareFormat::Json => {
            let mut json =
                serde_json::to_string_pretty(&comparison).unwrap_or_else(|_| "{}".to_string());
            json.push('\n');
            json
        }
    };
    match &args.output {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(e) = replace_file(path, text.as_bytes()) {
                to_stderr(&format!(
                    "locusta: error: cannot write {}: {e}\n",
                    path.display()
                ));
                return EXIT_USAGE;
            }
            to_stdout(&format!(
                "{} (written to {})\n",
                verdicts::comparison_headline(&comparison),
                path.display()
            ));
        }
        None => to_stdout(&text),
    }
    if comparison.regressions > 0 {
        EXIT_GATE_FAILED
    } else {
        0
    }
}
