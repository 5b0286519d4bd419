//! Gate verdicts for people: the thresholds' pass/fail table, in the console's layout and as
//! Markdown.

use std::fmt::Write;

use crate::gate::{Outcome, Verdict};

/// Widest a column of the console table grows before its text is cut with `...`.
const MAX_COLUMN: usize = 60;

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let kept: String = s.chars().take(width.saturating_sub(3)).collect();
        format!("{kept}...")
    }
}

fn headline(outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    let not_run = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::NotRun)
        .count();
    let judged = outcomes.len() - not_run;
    let also = if not_run > 0 {
        format!(" ({not_run} not run)")
    } else {
        String::new()
    };
    match failed {
        0 => format!("Thresholds: all {judged} passed{also}"),
        n => format!("Thresholds: {n} of {judged} failed{also}"),
    }
}

/// The console table, printed after the final summary.
pub fn thresholds_table(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.endpoint.clone(),
                o.threshold.text.clone(),
                o.actual_text(),
                o.verdict.word().to_string(),
            ]
        })
        .collect();
    let heads = ["Endpoint", "Threshold", "Actual", "Result"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([heads[i].len()])
                .max()
                .unwrap_or(0)
                .min(MAX_COLUMN)
        })
        .collect();
    let mut out = format!("{}\n", headline(outcomes));
    let line = |out: &mut String, cells: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cut(cells[0], widths[0]),
            cut(cells[1], widths[1]),
            cut(cells[2], widths[2]),
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
    };
    line(&mut out, heads);
    let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 6));
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3]]);
    }
    out.push('\n');
    out
}

fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The same table in Markdown, for a pull-request comment.
pub fn thresholds_markdown(outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "**{}**\n\n| Endpoint | Threshold | Actual | Result |\n| --- | --- | --- | --- |\n",
        headline(outcomes)
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            markdown_cell(&o.endpoint),
            markdown_cell(&o.threshold.text),
            markdown_cell(&o.actual_text()),
            match o.verdict {
                Verdict::Fail => "**FAIL**",
                v => v.word(),
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Target, Threshold};

    fn outcome(endpoint: &str, text: &str, actual: Option<f64>, verdict: Verdict) -> Outcome {
        Outcome {
            threshold: Threshold::parse(text, &Target::All).unwrap(),
            endpoint: endpoint.to_string(),
            actual,
            verdict,
        }
    }

    #[test]
    fn a_table_a_person_reads_at_a_glance() {
        let outcomes = [
            outcome(
                "All requests",
                "error_rate < 1%",
                Some(0.0025),
                Verdict::Pass,
            ),
            outcome(
                "GET Portfolio List",
                "p95 < 800ms",
                Some(912.5),
                Verdict::Fail,
            ),
            outcome("Nothing|here", "median < 1s", None, Verdict::NotRun),
        ];
        assert_eq!(
            thresholds_table(&outcomes),
            "Thresholds: 1 of 2 failed (1 not run)\n\
             Endpoint            Threshold        Actual       Result\n\
             ---------------------------------------------------------\n\
             All requests        error_rate < 1%  0.25%        pass\n\
             GET Portfolio List  p95 < 800ms      912.5 ms     FAIL\n\
             Nothing|here        median < 1s      no requests  not run\n\n"
        );
        let md = thresholds_markdown(&outcomes);
        assert!(
            md.starts_with("**Thresholds: 1 of 2 failed (1 not run)**\n\n| Endpoint |"),
            "{md}"
        );
        assert!(
            md.contains("| GET Portfolio List | `p95 < 800ms` | 912.5 ms | **FAIL** |"),
            "{md}"
        );
        assert!(md.contains("| Nothing\\|here |"), "{md}");
        assert_eq!(thresholds_table(&[]), "");
    }
}
