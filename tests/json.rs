//! Machine-readable output: Locust's `--json`/`--json-file`, and locusta's `--summary-json`
//! checked against the JSON Schema shipped in `schemas/summary.schema.json`.

mod common;

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;
use serde_json::Value;

fn server() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/ok", get(|| async { "x".repeat(100) }))
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
            ),
    )
}

const SCENARIO: &str = "users:\n  U:\n    wait_time: {constant: 0.05}\n    tasks:\n      - {get: /ok, name: OK, weight: 3}\n      - {get: /broken, name: Broken}\n";

/// Locust's keys, in Locust's order (locust-spec.md 3.13).
const LOCUST_KEYS: [&str; 14] = [
    "name",
    "method",
    "last_request_timestamp",
    "start_time",
    "num_requests",
    "num_none_requests",
    "num_failures",
    "total_response_time",
    "max_response_time",
    "min_response_time",
    "total_content_length",
    "response_times",
    "num_reqs_per_sec",
    "num_fail_per_sec",
];

fn keys(entry: &Value) -> Vec<&str> {
    entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn json_and_json_file_have_locusts_shape_without_its_data_loss() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", SCENARIO);
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2",
            "--only-summary",
            "--json",
            "--json-file",
            "out/res",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stdout.ends_with("]\n"),
        "printed with one trailing newline"
    );
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is the JSON list");
    let entries = printed.as_array().unwrap();
    assert_eq!(entries.len(), 2, "one per endpoint, no Aggregated");
    for e in entries {
        assert_eq!(keys(e), LOCUST_KEYS);
    }
    let ok = entries.iter().find(|e| e["name"] == "OK").unwrap();
    let broken = entries.iter().find(|e| e["name"] == "Broken").unwrap();
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["num_failures"], 0);
    assert_eq!(broken["num_failures"], broken["num_requests"]);
    assert_eq!(
        ok["total_content_length"].as_u64().unwrap(),
        100 * ok["num_requests"].as_u64().unwrap()
    );
    let bucketed: u64 = ok["response_times"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        bucketed,
        ok["num_requests"].as_u64().unwrap(),
        "every response time in a bucket"
    );
    let per_second: u64 = ok["num_reqs_per_sec"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        per_second,
        ok["num_requests"].as_u64().unwrap(),
        "a 2-second run fits the 20 seconds kept"
    );
    assert!(ok["num_fail_per_sec"].as_object().unwrap().is_empty());

    // The file holds the same list (Locust's would be `[]` after --json), no trailing newline.
    let file = read(&dir.path().join("out/res.json"));
    assert_eq!(file, run.stdout.trim_end());
    // And the console summary still counts every request (Locust's shows zeros after --json).
    let total: u64 = entries
        .iter()
        .map(|e| e["num_requests"].as_u64().unwrap())
        .sum();
    let aggregated = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("Aggregated"))
        .expect("the final summary");
    assert_eq!(
        aggregated.split_whitespace().nth(1).unwrap(),
        total.to_string()
    );
}

fn shipped_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.schema.json");
    serde_json::from_str(&read(&path)).unwrap()
}

#[test]
fn the_summary_validates_against_the_shipped_schema() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped schema is the one the code derives.
    let run = locusta(dir.path(), &["schema", "summary"]);
    assert_eq!(run.code, 0);
    let derived: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        derived,
        shipped_schema(),
        "schemas/summary.schema.json is stale: run `cargo run -- schema summary > schemas/summary.schema.json`"
    );
    let validator = jsonschema::validator_for(&shipped_schema()).expect("a valid schema");

    let addr = server();
    write(
        dir.path(),
        "s.yaml",
        &format!("thresholds:\n  OK: [p95 < 1s]\n  all: [error_rate < 1%]\n{SCENARIO}"),
    );
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2",
            "--only-summary",
            "--summary-json",
            "results/summary.json",
        ],
    );
    assert_eq!(run.code, 3, "error_rate failed: {}", run.output());
    let summary: Value =
        serde_json::from_str(&read(&dir.path().join("results/summary.json"))).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // What it says matches the run.
    assert_eq!(summary["format"], 1);
    assert_eq!(summary["run"]["exit_code"], 3);
    assert_eq!(summary["run"]["ending"], "run_time");
    assert_eq!(summary["run"]["users"], 2);
    assert_eq!(summary["run"]["run_time_seconds"], 2);
    assert_eq!(summary["run"]["user_counts"]["U"], 2);
    let endpoints = summary["endpoints"].as_array().unwrap();
    assert_eq!(
        endpoints
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Broken", "OK"]
    );
    let total = &summary["total"];
    let sum: u64 = endpoints
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total["requests"].as_u64().unwrap(), sum);
    let percentiles: Vec<&str> = total["percentiles_ms"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        percentiles,
        [
            "50", "66", "75", "80", "90", "95", "98", "99", "99.9", "99.99", "100"
        ]
    );
    assert_eq!(
        summary["failures"][0]["error"],
        "HTTPError('500 Server Error: Internal Server Error for url: Broken')"
    );
    assert_eq!(summary["thresholds_passed"], false);
    let verdicts: Vec<(&str, &str)> = summary["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["threshold"].as_str().unwrap(),
                t["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [("p95 < 1s", "pass"), ("error_rate < 1%", "fail")]
    );
    // A document with a field of the wrong type fails the schema: the check has teeth.
    let mut broken = summary.clone();
    broken["total"]["requests"] = Value::from("many");
    assert!(!validator.is_valid(&broken));
}
