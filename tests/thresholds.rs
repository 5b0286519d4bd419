//! Thresholds gate a run: each form passes and fails where it should, on real runs against a
//! server on 127.0.0.1 whose endpoints take known times.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;

/// `/fast` answers at once, `/slow` after 150 ms, `/broken` with a 500.
fn server() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    "slow"
                }),
            )
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
            ),
    )
}

fn scenario(addr: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "host: http://{addr}\n{extra}users:\n  U:\n    wait_time: {{constant: 0.02}}\n    tasks:\n      - {{get: /fast, name: Fast, weight: 8}}\n      - {{get: /slow, name: Slow}}\n      - {{get: /broken, name: Broken}}\n"
    )
}

/// The rows of the console's threshold table: (endpoint, threshold, result).
fn verdicts(stderr: &str) -> Vec<(String, String, String)> {
    let Some(start) = stderr.find("Thresholds: ") else {
        return Vec::new();
    };
    stderr[start..]
        .lines()
        .skip(3)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                cells[0].to_string(),
                cells[1].to_string(),
                cells[cells.len() - 1].to_string(),
            )
        })
        .collect()
}

#[test]
fn command_line_thresholds_pass_and_fail_where_they_should() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", &scenario(addr, ""));
    let base = "-f s.yaml -u 2 -r 2 -t 2 --only-summary";

    // All hold: the run's exit code is then its usual one (1: Broken's requests failed).
    let run = run_cmd(command(dir.path()).args(base.split(' ')).args([
        "--threshold",
        "p95<100ms for GET Fast",
        "--threshold",
        "p50 >= 140ms for Slow",
        "--threshold",
        "rps>=5",
        "--threshold",
        "max < 5s",
    ]));
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr.contains("Thresholds: all 4 passed"),
        "{}",
        run.output()
    );
    assert_eq!(
        verdicts(&run.stderr),
        [
            ("GET Fast".into(), "p95<100ms".into(), "pass".into()),
            ("GET Slow".into(), "p50 >= 140ms".into(), "pass".into()),
            ("All requests".into(), "rps>=5".into(), "pass".into()),
            ("All requests".into(), "max < 5s".into(), "pass".into()),
        ]
    );

    // One fails: exit code 3, whatever else happened, and the table says which.
    let run = run_cmd(command(dir.path()).args(base.split(' ')).args([
        "--threshold",
        "p95<100ms for Slow",
        "--threshold",
        "error_rate<50%",
        "--threshold",
        "p99 < 1s for *o*",
    ]));
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(
        run.stderr.contains("Thresholds: 1 of 4 failed"),
        "{}",
        run.output()
    );
    let rows = verdicts(&run.stderr);
    assert_eq!(
        rows[0],
        ("GET Slow".into(), "p95<100ms".into(), "FAIL".into())
    );
    assert_eq!(
        rows[1],
        (
            "All requests".into(),
            "error_rate<50%".into(),
            "pass".into()
        )
    );
    // A pattern judges every endpoint it matches.
    assert_eq!(rows[2].0, "GET Broken");
    assert_eq!(rows[3].0, "GET Slow");

    // An error-rate threshold on all requests judges the failures instead of exit code 1.
    let run = run_cmd(
        command(dir.path())
            .args(base.split(' '))
            .args(["--threshold", "error_rate < 30%"]),
    );
    assert_eq!(run.code, 0, "{}", run.output());

    // A name no request has is a mistake, said before the run; one the run did not reach
    // (tags left it out) is "not run", not a failure.
    let run = run_cmd(
        command(dir.path())
            .args(base.split(' '))
            .args(["--threshold", "p95<1s for Fsat"]),
    );
    assert_eq!(run.code, 2, "{}", run.output());
    assert_eq!(
        run.stderr.trim(),
        "locusta: error: argument --threshold: `p95<1s for Fsat`: no request of the scenario is named `Fsat`, did you mean `Fast`?"
    );
    write(
        dir.path(),
        "t.yaml",
        &scenario(addr, "").replace("name: Slow", "name: Slow, tags: [slow]"),
    );
    let run = run_cmd(
        command(dir.path())
            .args("-f t.yaml -u 2 -r 2 -t 1 --only-summary -E slow".split(' '))
            .args(["--threshold", "p95<1ms for Slow"]),
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(
        verdicts(&run.stderr),
        [("Slow".into(), "p95<1ms".into(), "not run".into())]
    );

    // Bad expressions are argument errors.
    let run = locusta_line(dir.path(), "-f s.yaml --threshold p95<<1s");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("locusta: error: argument --threshold: `p95<<1s` is not a threshold (write METRIC OP VALUE"),
        "{}",
        run.stderr
    );
}

#[test]
fn locust_plugins_checks_keep_their_meaning() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", &scenario(addr, ""));
    let base = "-f s.yaml -u 2 -r 2 -t 2 --only-summary";
    // --check-fail-ratio judges failures: 1 in 10 failed, under the ratio, so exit code 0.
    let run = locusta_line(dir.path(), &format!("{base} --check-fail-ratio 0.3"));
    assert_eq!(run.code, 0, "{}", run.output());
    let run = locusta_line(
        dir.path(),
        &format!("{base} --check-fail-ratio 0.01 --check-rps 100000 --check-avg-response-time 1"),
    );
    assert_eq!(run.code, 3, "{}", run.output());
    for line in [
        "/INFO/root: CHECK FAILED: fail ratio was ",
        "% (threshold 1.00%)",
        "/INFO/root: CHECK FAILED: total rps was ",
        " (threshold 100000.0)",
        "/INFO/root: CHECK FAILED: avg response time was ",
        " (threshold 1.0)",
    ] {
        assert!(run.stderr.contains(line), "no `{line}` in {}", run.output());
    }
    // And from the environment, as locust-plugins reads them.
    let run = run_cmd(
        command(dir.path())
            .env("LOCUST_CHECK_RPS", "100000")
            .args(base.split(' ')),
    );
    assert_eq!(run.code, 3, "{}", run.output());
}

#[test]
fn scenario_thresholds_are_judged_and_can_stop_the_run_early() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    let thresholds = "thresholds:\n  all:\n    - error_rate < 50%\n  Fast: [p95 < 100ms, median < 50ms]\n  Slow:\n    - p99 < 1s\n";
    write(dir.path(), "s.yaml", &scenario(addr, thresholds));
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 2 -r 2 -t 2 --only-summary --html r.html",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains("Thresholds: all 4 passed"),
        "{}",
        run.output()
    );
    let report = read(&dir.path().join("r.html"));
    assert!(report.contains("<h2>Thresholds</h2>"));
    assert!(
        report.contains("<code>median &#60; 50ms</code>"),
        "escaped and shown"
    );

    // A threshold with abort: the run stops as soon as it fails, long before -t.
    let thresholds = "thresholds:\n  Broken:\n    - {check: error_rate < 10%, abort_after: 1s}\n";
    write(dir.path(), "a.yaml", &scenario(addr, thresholds));
    let run = locusta_line(
        dir.path(),
        "-f a.yaml -u 2 -r 2 -t 60 --only-summary --csv a",
    );
    assert_eq!(run.code, 3, "{}", run.output());
    // Long before the 60 s of -t (generous for a loaded machine).
    assert!(run.elapsed < Duration::from_secs(40), "{:?}", run.elapsed);
    assert!(
        run.stderr.contains(
            "Threshold `error_rate < 10%` failed for GET Broken (100.00%): stopping the run"
        ),
        "{}",
        run.output()
    );
    assert!(
        csv_rows(&dir.path().join("a_stats.csv")).len() > 2,
        "the files are written"
    );

    // Mistakes are located in the file.
    let thresholds = "thresholds:\n  all:\n    - p95 < 5 parsecs\n";
    write(dir.path(), "b.yaml", &scenario(addr, thresholds));
    let run = locusta_line(dir.path(), "-f b.yaml");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(
            "locusta: error: b.yaml:4:7: thresholds.all[0]: `p95 < 5 parsecs` is not a threshold"
        ),
        "{}",
        run.stderr
    );
}
