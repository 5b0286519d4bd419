//! `locusta report`: the HTML report of a run that already ended, from the CSV files it left
//! (a locusta run, a `run_benchmark.sh` results folder, or Locust's own `--csv` files).

use std::path::PathBuf;

use crate::cli::ReportArgs;
use crate::report::console::{to_stderr, to_stdout};
use crate::report::data::{ReportData, csv_prefix};
use crate::report::html;
use crate::run::EXIT_USAGE;

/// Writes the report and prints its path on stdout; exit code 0, or 2 with a one-line error.
pub fn report(args: &ReportArgs) -> i32 {
    match write(args) {
        Ok(path) => {
            to_stdout(&format!("{}\n", path.display()));
            0
        }
        Err(e) => {
            to_stderr(&format!("locusta: error: {e}\n"));
            EXIT_USAGE
        }
    }
}

fn write(args: &ReportArgs) -> Result<PathBuf, String> {
    let prefix = csv_prefix(&args.input)?;
    let data = ReportData::from_csv(&prefix)?;
    let output = match &args.output {
        Some(path) => path.clone(),
        None if args.input.is_dir() => args.input.join("report.html"),
        None => PathBuf::from(format!("{}_report.html", prefix.display())),
    };
    html::write(&output, &data).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(output)
}
