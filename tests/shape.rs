//! Load shapes: `stages` in the scenario or `--stages` on the command line, run as Locust runs a
//! LoadTestShape, with its ramps (ramp-down removes the most recently started users first).

mod common;

use std::time::Duration;

use common::*;

fn scenario(addr: std::net::SocketAddr, stages: &str) -> String {
    format!(
        "host: http://{addr}\n{stages}users:\n  Api:\n    weight: 1\n    wait_time: {{constant: 0.2}}\n    tasks: [{{get: /health/, name: api}}]\n  Web:\n    weight: 3\n    wait_time: {{constant: 0.2}}\n    tasks: [{{get: /health/, name: web}}]\n"
    )
}

/// The `(log line)` lines of the runner, in order, without their time stamps.
fn runner_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split_once("/INFO/locusta.runners: ")
                .map(|(_, m)| m.to_string())
        })
        .collect()
}

#[test]
fn stages_set_the_users_stage_by_stage_and_end_the_run() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    let stages = "stages:\n  - {duration: 2s, users: 4, spawn_rate: 4}\n  - {duration: 2s, users: 8, spawn_rate: 8}\n  - {duration: 2s, users: 2, spawn_rate: 10}\n";
    write(dir.path(), "s.yaml", &scenario(addr, stages));
    // -u and -t are ignored, as Locust ignores them with a shape; the shape ends the run.
    // --reset-stats resets whenever a stage's ramp completes, as Locust's does.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 50 -t 1 --reset-stats --csv s --html s.html --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr
            .contains("The following option(s) will be ignored: --users, --run-time"),
        "{}",
        run.output()
    );
    // The stages add up to 6 s: never earlier; the upper bound only says the shape ended the
    // run (the -t 1 and the 50 users were ignored), generous for a loaded machine.
    assert!(
        run.elapsed >= Duration::from_secs(6) && run.elapsed < Duration::from_secs(30),
        "{:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("Shape test completed"),
        "{}",
        run.output()
    );
    assert_eq!(
        runner_lines(&run.stderr),
        [
            "Shape test starting.",
            "Shape test updating to 4 users at 4.00 spawn rate",
            "Ramping to 4 users at a rate of 4.00 per second",
            "All users spawned: {\"Api\": 1, \"Web\": 3} (4 total users)",
            "Resetting stats",
            "Shape test updating to 8 users at 8.00 spawn rate",
            "Ramping to 8 users at a rate of 8.00 per second",
            "All users spawned: {\"Api\": 2, \"Web\": 6} (8 total users)",
            "Resetting stats",
            "Shape test updating to 2 users at 10.00 spawn rate",
            "Ramping to 2 users at a rate of 10.00 per second",
            // Locust's order was Web, Api, Web, Web, Web, Api, Web, Web: the first two stay.
            "All users spawned: {\"Api\": 1, \"Web\": 1} (2 total users)",
            "Resetting stats",
            "Shape test stopping",
        ]
    );
    assert!(
        run.stderr.contains("Shape test completed, shutting down"),
        "{}",
        run.output()
    );
    // The history follows the stages.
    let users: Vec<String> = csv_rows(&dir.path().join("s_stats_history.csv"))[1..]
        .iter()
        .map(|r| r[1].clone())
        .collect();
    let mut steps = users.clone();
    steps.dedup();
    assert_eq!(steps, ["0", "4", "8", "2", "0"], "{users:?}");
    // The report calls the run's users its peak, and its run time the stages' total.
    let report = read(&dir.path().join("s.html"));
    assert!(
        report.contains("<dt>Users</dt><dd>8</dd>"),
        "peak users in the report"
    );
    assert!(report.contains("<dt>Run time</dt><dd>6 seconds</dd>"));
}

#[test]
fn stages_on_the_command_line_replace_the_scenarios_and_can_name_user_types() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    let stages = "stages:\n  - {duration: 2s, users: 3, user_types: [Api]}\n  - {duration: 2s, users: 3, spawn_rate: 10}\n";
    write(dir.path(), "s.yaml", &scenario(addr, stages));
    let run = locusta_line(dir.path(), "-f s.yaml --csv t --only-summary");
    assert_eq!(run.code, 0, "{}", run.output());
    let lines = runner_lines(&run.stderr);
    // Only Api in the first stage (3 users over 2 s: 1.5 a second), then all types again: the
    // dispatcher starts afresh over both and the Api users stop.
    assert!(
        lines.contains(&"Shape test updating to 3 users at 1.50 spawn rate".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"All users spawned: {\"Api\": 3} (3 total users)".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"All users spawned: {\"Api\": 1, \"Web\": 2} (3 total users)".to_string()),
        "{lines:?}"
    );

    // --stages wins over the file's stages.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml --stages 1s:2:2,1s:1 --csv c --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let lines = runner_lines(&run.stderr);
    assert_eq!(
        lines[1], "Shape test updating to 2 users at 2.00 spawn rate",
        "{lines:?}"
    );
    assert_eq!(
        lines[4], "Shape test updating to 1 users at 1.00 spawn rate",
        "{lines:?}"
    );
    // The command line's two 1 s stages ended the run, not the file's longer ones.
    assert!(
        run.elapsed >= Duration::from_secs(2) && run.elapsed < Duration::from_secs(30),
        "{:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("Shape test completed"),
        "{}",
        run.output()
    );

    let run = locusta_line(dir.path(), "-f s.yaml --stages 1m:2,oops");
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "locusta: error: argument --stages: 'oops' is not DURATION:USERS[:SPAWN_RATE] (two or three parts); e.g. 2m:100,30s:500,1m:500"
    );
}
