//! Run options with Locust's meaning, through the real binary.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::*;

/// A server that counts what it answers; `/slow` takes 1.5 s, `/stuck` 120 s.
fn counting_server() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/fast",
            get(|State(c): State<Arc<AtomicU64>>| async move {
                c.fetch_add(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(120)).await;
                "stuck"
            }),
        )
        .route("/after", get(|| async { "after" }))
        .route("/tagged/{t}", get(|| async { "t" }))
        .with_state(count.clone());
    (serve(app), count)
}

#[test]
fn stop_timeout_lets_users_finish_their_flow() {
    let (addr, _) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let flow = |first: &str| {
        format!(
            "host: http://{addr}\nusers:\n  U:\n    tasks:\n      - name: journey\n        flow:\n          - get: {first}\n          - get: /after\n"
        )
    };
    write(dir.path(), "stuck.yaml", &flow("/stuck"));
    write(dir.path(), "s.yaml", &flow("/slow"));
    // Default: stopping users are killed at once; the in-flight request is dropped, as in
    // Locust. It would answer after 120 s: ending long before (generous for a loaded machine)
    // means it was not waited for.
    let run = locusta_line(
        dir.path(),
        "-f stuck.yaml -u 2 -r 2 -t 1 --csv kill --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let stats = csv_rows(&dir.path().join("kill_stats.csv"));
    assert_eq!(stats.last().unwrap()[2], "0", "{stats:?}");
    assert!(run.elapsed < Duration::from_secs(50), "{:?}", run.elapsed);
    // With a stop timeout, each user finishes the flow it is in.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 2 -r 2 -t 1 --stop-timeout 5 --csv wait --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let stats = csv_rows(&dir.path().join("wait_stats.csv"));
    assert_eq!(stats_row(&stats, "GET", "/slow")[2], "2");
    assert_eq!(stats_row(&stats, "GET", "/after")[2], "2");
    assert!(
        run.elapsed >= Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn reset_stats_starts_counting_once_all_users_run() {
    let (addr, served) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: http://{addr}\nusers:\n  U:\n    wait_time: {{constant: 0.05}}\n    tasks: [{{get: /fast}}]\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    // 2 users at 1/s: the second starts after a second, then the counters reset.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 2 -r 1 -t 3 --reset-stats --csv r --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(run.stderr.contains("Resetting stats"), "{}", run.output());
    let stats = csv_rows(&dir.path().join("r_stats.csv"));
    let counted: u64 = stats.last().unwrap()[2].parse().unwrap();
    let served = served.load(Ordering::SeqCst);
    assert!(
        counted > 0 && counted + 10 < served,
        "counted {counted} of {served} served"
    );
}

#[test]
fn tags_select_and_exclude_tasks() {
    let (addr, _) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: http://{addr}\nusers:\n  U:\n    wait_time: {{constant: 0.02}}\n    tasks:\n      - {{get: /tagged/a, tags: [smoke]}}\n      - {{get: /tagged/b, tags: [slow, nightly]}}\n      - {{get: /tagged/c}}\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    let names = |file: &str| -> Vec<String> {
        let rows = csv_rows(&dir.path().join(file));
        rows[1..rows.len() - 1]
            .iter()
            .map(|r| r[1].clone())
            .collect()
    };
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 1 -t 1 -T smoke nightly --csv t --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(names("t_stats.csv"), ["/tagged/a", "/tagged/b"]);
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 1 -t 1 -E slow --csv e --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(names("e_stats.csv"), ["/tagged/a", "/tagged/c"]);
    let run = locusta_line(dir.path(), "-f s.yaml -u 1 -t 1 -T nothing");
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(run.stderr.contains("had no tasks left after filtering"));
}

#[test]
fn full_history_and_the_rewrite_every_second() {
    let (addr, _) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: http://{addr}\nusers:\n  U:\n    wait_time: {{constant: 0.05}}\n    tasks: [{{get: /fast}}, {{get: /after}}]\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    let started = Instant::now();
    let child = command(dir.path())
        .args([
            "-f",
            "s.yaml",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "4",
            "--csv",
            "h",
            "--csv-full-history",
            "--only-summary",
        ])
        .spawn()
        .unwrap();
    // Mid-run, the files already hold what happened so far: seen while the run goes on.
    let mut child = child;
    let stats_file = dir.path().join("h_stats.csv");
    let mid_total = loop {
        let seen = aggregated_requests(&stats_file);
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its files showed more than 10 requests"
        );
        if seen > 10 {
            break seen;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = finish(child, started, Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}", run.output());
    let end: u64 = csv_rows(&dir.path().join("h_stats.csv")).last().unwrap()[2]
        .parse()
        .unwrap();
    assert!(end > mid_total);
    // Every tick: one row per entry, then Aggregated, all with the same timestamp.
    let history = csv_rows(&dir.path().join("h_stats_history.csv"));
    let ticks: Vec<&[Vec<String>]> = history[1..]
        .split_inclusive(|r| r[3] == "Aggregated")
        .collect();
    assert!(ticks.len() >= 4, "{history:?}");
    // The first tick comes before any user starts: Aggregated alone, 0 users, as in Locust.
    assert_eq!(ticks[0].len(), 1, "{history:?}");
    assert_eq!(
        (ticks[0][0][1].as_str(), ticks[0][0][17].as_str()),
        ("0", "0"),
        "{history:?}"
    );
    for tick in &ticks[2..] {
        let kinds: Vec<&str> = tick.iter().map(|r| r[3].as_str()).collect();
        assert_eq!(kinds, ["/after", "/fast", "Aggregated"], "{history:?}");
        assert!(tick.iter().all(|r| r[0] == tick[0][0]));
    }
}

#[test]
fn log_level_and_log_file() {
    let (addr, _) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: http://{addr}\nusers:\n  U:\n    wait_time: {{constant: 0.1}}\n    tasks: [{{get: /fast}}]\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 -L warning");
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        !run.stderr.contains("Starting locusta"),
        "INFO lines are below WARNING"
    );
    assert!(
        run.stderr.contains("Response time percentiles"),
        "tables are not log lines"
    );
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 --logfile run.log");
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.stderr.contains("Starting locusta"));
    assert!(run.stderr.contains("Response time percentiles"));
    let log = read(&dir.path().join("run.log"));
    let first = log.lines().next().unwrap();
    // [2026-11-22 19:01:58,720] host/INFO/locusta.main: Starting locusta 0.1.0
    assert!(
        first.starts_with('[') && first.contains("/INFO/locusta.main: Starting locusta "),
        "{log}"
    );
    assert_eq!(
        &first[20..21],
        ",",
        "milliseconds after a comma, as Python's logging: {first}"
    );
}

#[test]
fn iterations_end_the_run_after_that_many_task_runs_in_all() {
    let (addr, served) = counting_server();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: http://{addr}\nusers:\n  U:\n    wait_time: {{constant: 0.05}}\n    on_stop: [{{get: /after}}]\n    tasks:\n      - {{get: /fast, weight: 3}}\n      - name: pair\n        flow: [{{get: /fast}}, {{get: /after}}]\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    // No run time: the limit alone ends the run.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 4 -r 4 -i 25 --csv i --only-summary",
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains(
            "Iteration limit reached (25), stopping Users at the start of their next task run"
        ),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("Last user stopped, quitting runner"),
        "{}",
        run.output()
    );
    let stats = csv_rows(&dir.path().join("i_stats.csv"));
    let fast: u64 = stats_row(&stats, "GET", "/fast")[2].parse().unwrap();
    let after: u64 = stats_row(&stats, "GET", "/after")[2].parse().unwrap();
    // Every task run starts with one /fast; every user's on_stop adds one /after.
    assert_eq!(fast, 25, "{stats:?}");
    assert_eq!(served.load(Ordering::SeqCst), 25);
    assert!(after >= 4, "on_stop ran for each user: {after}");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    // LOCUST_ITERATIONS works too, and -t still ends a run first.
    let run = run_cmd(
        command(dir.path())
            .env("LOCUST_ITERATIONS", "100000")
            .args(["-f", "s.yaml", "-u", "1", "-t", "1", "--only-summary"]),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains("--run-time limit reached"),
        "{}",
        run.output()
    );
}
