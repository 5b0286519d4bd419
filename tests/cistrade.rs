//! The shipped CisTrade scenario against the built-in demo target: zero failures.

mod common;

use std::path::Path;

use common::*;

fn scenario_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/cistrade.yaml")
        .display()
        .to_string()
}

/// Sets every `wait:` step (think time inside flows) to zero.
fn zero_waits(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                if k.as_str() == Some("wait") {
                    *child = serde_yaml::Value::from(0);
                } else {
                    zero_waits(child);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(zero_waits),
        _ => {}
    }
}

/// The scenario with every wait set to zero, so a few seconds exercise every task.
fn without_waits(dir: &Path) -> String {
    let text = read(Path::new(&scenario_path()));
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for (_, user) in doc["users"].as_mapping_mut().unwrap() {
        user["wait_time"] = serde_yaml::from_str("{constant: 0}").unwrap();
    }
    zero_waits(&mut doc);
    write(
        dir,
        "cistrade-nowait.yaml",
        &serde_yaml::to_string(&doc).unwrap(),
    )
    .display()
    .to_string()
}

#[test]
fn every_cistrade_task_succeeds_against_the_demo_target() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    let scenario = without_waits(dir.path());
    let host = format!("http://{addr}");
    for (label, extra) in [("default types", None), ("MixedUser", Some("MixedUser"))] {
        let mut args = vec![
            "-f",
            &scenario,
            "-H",
            &host,
            "-u",
            "10",
            "-r",
            "10",
            "-t",
            "3",
            "--csv",
            "ct",
            "--only-summary",
        ];
        args.extend(extra);
        let run = locusta(dir.path(), &args);
        assert_eq!(run.code, 0, "{label}: {}", run.output());
        let failures = csv_rows(&dir.path().join("ct_failures.csv"));
        assert_eq!(failures.len(), 1, "{label}: {failures:?}");
        let stats = csv_rows(&dir.path().join("ct_stats.csv"));
        let names: Vec<&str> = stats[1..stats.len() - 1]
            .iter()
            .map(|r| r[1].as_str())
            .collect();
        for expected in [
            "Login",
            "Portfolio List",
            "Portfolio Search",
            "Portfolio Detail",
            "Portfolio Export CSV",
            "Create Portfolio",
            "Currency List",
            "Counterparty Search",
            "Reference Data Export CSV",
            "UDF Filter",
            "Edit UDF",
            "Dashboard",
            "Audit Log",
            "Recent Activity",
            "Logout",
        ] {
            assert!(
                names.contains(&expected),
                "{label}: no {expected} in {names:?}"
            );
        }
    }
}

#[test]
fn weights_and_named_types_follow_the_guide() {
    let addr = demo(0.1);
    let dir = tempfile::tempdir().unwrap();
    let host = format!("http://{addr}");
    let scenario = scenario_path();
    // 40/30/15/15 of 20 users; MixedUser only when named.
    let run = locusta_line(
        dir.path(),
        &format!("-f {scenario} -H {host} -u 20 -r 20 -t 2 --only-summary"),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains(
            "All users spawned: {\"DashboardUser\": 3, \"PortfolioUser\": 8, \"ReferenceDataUser\": 6, \"UDFUser\": 3} (20 total users)"
        ),
        "{}",
        run.output()
    );
    // `locusta -f scenarios/cistrade.yaml PortfolioUser -u 200 ...`: only that type runs.
    let run = locusta_line(
        dir.path(),
        &format!("-f {scenario} PortfolioUser -H {host} -u 5 -r 5 -t 2 --csv p"),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr
            .contains("All users spawned: {\"PortfolioUser\": 5} (5 total users)")
    );
    let stats = csv_rows(&dir.path().join("p_stats.csv"));
    assert!(
        stats[1..]
            .iter()
            .all(|r| !r[1].contains("UDF") && !r[1].contains("Currency")),
        "{stats:?}"
    );
}
