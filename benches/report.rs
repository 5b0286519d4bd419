//! How long rendering the HTML report of a 2-hour soak takes, and how big the page is.
//!
//! `cargo bench --bench report` prints the median of 15 renders of a made-up two-hour run
//! (7,200 seconds, 30 endpoints, every second recorded as a run records it). The target is
//! "well under a second"; this is a measurement to quote, not a test that fails.

use std::time::Instant;

use locusta::report::data::ReportData;
use locusta::report::html;

fn main() {
    let data = ReportData::synthetic(2 * 3600, 30);
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..15 {
        let started = Instant::now();
        let page = html::render(&data);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = page.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "report of a 2-hour soak (30 endpoints, {} points per series): median {:.1} ms, min {:.1} ms, max {:.1} ms, {} KiB",
        data.aggregated.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        bytes / 1024
    );
}
