//! `locusta compare`: it catches a slowdown injected into one endpoint of the demo target,
//! passes two runs of the same build, reads Locust's own CSV files, and writes Markdown and JSON.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// One run against `addr` with its CSV files under `dir/name`.
fn run_into(dir: &Path, addr: std::net::SocketAddr, name: &str) {
    let host = format!("http://{addr}");
    let run = locusta(
        dir,
        &[
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4",
            "--only-summary",
            "--csv",
            &format!("{name}/stats"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
}

#[test]
fn compare_catches_a_slowed_endpoint_and_passes_the_same_build() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", LISTS_SCENARIO);
    // Both servers hold every list 100 ms, so the noise of a busy machine is small beside the
    // median; the slowed one adds 60 ms to one list.
    let server = |delays: &[(&str, u64)]| {
        let delays = delays
            .iter()
            .map(|(path, ms)| (path.to_string(), Duration::from_millis(*ms)))
            .collect();
        runtime().block_on(async {
            locusta::demo::spawn_with_delays("127.0.0.1:0", 1.0, delays)
                .await
                .unwrap()
        })
    };
    let normal = server(&[("/reference-data/", 100)]);
    let slowed = server(&[
        ("/reference-data/", 100),
        ("/reference-data/currency/", 160),
    ]);
    run_into(dir.path(), normal, "baseline");
    run_into(dir.path(), normal, "again");
    run_into(dir.path(), slowed, "slowed");

    // The same build against the same server: medians within 20%. Only the median is judged:
    // the tail of ~50 requests per endpoint is two or three requests, and one stall of a busy
    // 2-core machine doubles it (seen: a p95 of 141 ms read 334 ms in the second run).
    let same = locusta(
        dir.path(),
        &[
            "compare",
            "baseline",
            "again",
            "--max-regression-median",
            "20%",
        ],
    );
    assert_eq!(same.code, 0, "{}", same.output());
    assert!(
        same.stdout.contains("No regressions beyond the limits"),
        "{}",
        same.stdout
    );

    // 60 ms more on the currency list (about 130 ms before): caught and named. The country
    // list's latency is untouched; its requests per second do drop, since each user now
    // spends longer on the currency list (a closed-loop load), so only its median is checked.
    let caught = locusta(
        dir.path(),
        &["compare", "baseline", "slowed", "--max-regression", "20%"],
    );
    assert_eq!(caught.code, 3, "{}", caught.output());
    let regressions: Vec<&str> = caught
        .stdout
        .lines()
        .skip_while(|l| !l.contains("beyond the limits"))
        .skip(1)
        .collect();
    assert!(!regressions.is_empty(), "{}", caught.stdout);
    assert!(
        regressions
            .iter()
            .any(|l| l.trim_start().starts_with("GET Currency List: Median ")),
        "{regressions:?}"
    );
    assert!(
        !regressions
            .iter()
            .any(|l| l.trim_start().starts_with("GET Country List: Median")),
        "{regressions:?}"
    );
    assert!(
        regressions.iter().all(|l| l.contains("limit")),
        "{regressions:?}"
    );

    // Per-metric limits: only the failure rate judged, so the slowdown passes.
    let run = locusta(
        dir.path(),
        &[
            "compare",
            "baseline",
            "slowed",
            "--max-failure-rate-increase",
            "1%",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());

    // Markdown to a file for a pull-request comment; JSON for tools.
    let run = locusta(
        dir.path(),
        &[
            "compare",
            "baseline",
            "slowed",
            "--max-regression-median",
            "20%",
            "--format",
            "markdown",
            "-o",
            "out/compare.md",
        ],
    );
    assert_eq!(run.code, 3);
    assert!(
        run.stdout
            .contains("beyond the limits (written to out/compare.md)"),
        "{}",
        run.stdout
    );
    let md = read(&dir.path().join("out/compare.md"));
    assert!(md.starts_with("### "), "{md}");
    assert!(md.contains("| Endpoint | Requests | Median |"), "{md}");
    assert!(
        md.contains("| GET Currency List |") && md.contains("**+"),
        "{md}"
    );
    let run = locusta(
        dir.path(),
        &[
            "compare",
            "baseline",
            "slowed",
            "--max-regression",
            "20%",
            "--format",
            "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let currency = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Currency List")
        .unwrap();
    let median = currency["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "median")
        .unwrap();
    assert_eq!(median["regression"], true);
    assert!(median["latest"].as_f64().unwrap() > median["baseline"].as_f64().unwrap() + 40.0);
}

#[test]
fn compare_reads_locusts_own_files_and_lists_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = fixture("locust-full/full");
    let latest = fixture("locust");
    let run = locusta(
        dir.path(),
        &[
            "compare",
            baseline.to_str().unwrap(),
            latest.to_str().unwrap(),
            "--max-failure-rate-increase",
            "5%",
        ],
    );
    // All requests went from 19 of 109 failing to 77 of 300: +8.2 points.
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(
        run.stdout
            .contains("Only in the latest run: POST /api, GET /refused"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("All requests: Failure rate 17.43% -> 25.67% (+8.24 pt, limit +5.00 pt)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("? fewer than 20 requests in a run: not judged"),
        "{}",
        run.stdout
    );

    // Bad inputs: one line, exit code 2.
    for (args, says) in [
        (
            vec!["compare", "nowhere", latest.to_str().unwrap()],
            "no nowhere_stats.csv",
        ),
        (
            vec![
                "compare",
                baseline.to_str().unwrap(),
                latest.to_str().unwrap(),
                "--max-regression",
                "lots",
            ],
            "argument --max-regression: 'lots' is not a percentage (e.g. 20%)",
        ),
        (
            vec!["compare", "only-one"],
            "the following required arguments were not provided",
        ),
    ] {
        let run = locusta(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.output());
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    }
}
