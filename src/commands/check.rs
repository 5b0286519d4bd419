//! `locusta check` and `locusta schema`: the scenario format without running anything.

use crate::cli::CheckArgs;
use crate::report::console::{to_stderr, to_stdout};
use crate::run::EXIT_USAGE;
use crate::scenario::{self, TagFilter, plan};

/// Checks each file and prints every problem (`file:line:column: message`) on stdout. Exit code
/// 0 when every file is sound, 2 otherwise.
pub fn check(args: &CheckArgs) -> i32 {
    let mut failed = false;
    for file in &args.files {
        let shown = file.display();
        match scenario::load(file) {
            Ok(s) => {
                let tasks: usize = s.user_types.iter().map(|u| u.tasks.len()).sum();
                let feeders = match s.feeders.len() {
                    0 => String::new(),
                    n => format!(", {}", count(n, "data feeder")),
                };
                to_stdout(&format!(
                    "{shown}: OK ({}, {}{feeders})\n",
                    count(s.user_types.len(), "user type"),
                    count(tasks, "task")
                ));
                let hostless: Vec<&str> = (0..s.user_types.len())
                    .filter(|&i| s.host.is_none() && s.user_types[i].host.is_none())
                    .filter(|&i| plan::build(&s, i, &TagFilter::default()).needs_host())
                    .map(|i| s.user_types[i].name.as_str())
                    .collect();
                if !hostless.is_empty() {
                    to_stdout(&format!(
                        "{shown}: note: no `host` for {}; give -H/--host when running\n",
                        hostless.join(", ")
                    ));
                }
            }
            Err(e) => {
                failed = true;
                for d in &e.0 {
                    to_stdout(&format!("{d}\n"));
                }
                let n = e.0.len();
                to_stderr(&format!(
                    "{shown}: {n} problem{}\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }
    if failed { EXIT_USAGE } else { 0 }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The JSON Schema of scenario files, derived from the parser's own types.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(scenario::validate::schema()).unwrap_or_default();
    text.push('\n');
    text
}
