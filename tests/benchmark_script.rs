//! `run_benchmark.sh`, driven with the test build of locusta (LOCUSTA_BIN skips the release
//! build) against the demo target on a free port.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn script(results_parent: &Path) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A copy of the script in a scratch folder, so results land there and not in the checkout.
    std::fs::create_dir_all(results_parent.join("scenarios")).unwrap();
    std::fs::copy(
        root.join("run_benchmark.sh"),
        results_parent.join("run_benchmark.sh"),
    )
    .unwrap();
    std::fs::copy(
        root.join("scenarios/cistrade.yaml"),
        results_parent.join("scenarios/cistrade.yaml"),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(results_parent.join("run_benchmark.sh"))
        .current_dir(results_parent)
        .env("LOCUSTA_BIN", env!("CARGO_BIN_EXE_locusta"))
        .env_remove("HOST")
        .env_remove("SCENARIO")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// The run folders (`<preset>_<users>users_<timestamp>`), not `latest` or `baseline`.
fn result_dirs(parent: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(parent.join("benchmark_results")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().contains("users_"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_preset_with_the_demo_target_writes_the_results_folder() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("http://127.0.0.1:{}", closed_port());
    let run = run_cmd(script(dir.path()).args([
        "quick",
        "6",
        "3s",
        "--demo",
        "--host",
        &host,
        "--",
        "--only-summary",
    ]));
    assert_eq!(run.code, 0, "{}", run.output());
    let dirs = result_dirs(dir.path());
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let name = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("quick_6users_"), "{name}");
    for file in [
        "stats_stats.csv",
        "stats_stats_history.csv",
        "stats_failures.csv",
        "stats_exceptions.csv",
        "run_sheet.txt",
        "console.log",
        "report.html",
    ] {
        assert!(dirs[0].join(file).exists(), "{file} missing in {name}");
    }
    let stats = csv_rows(&dirs[0].join("stats_stats.csv"));
    let total = &stats.last().unwrap()[2];
    let sheet = read(&dirs[0].join("run_sheet.txt"));
    assert!(sheet.starts_with("BENCHMARK DATA SHEET\n"), "{sheet}");
    assert!(
        sheet.contains(&format!("- Total Requests: {total}\n")),
        "{sheet}"
    );
    assert!(
        sheet.contains("- Users: 6\n- Spawn Rate: 10\n- Duration: 3 s"),
        "{sheet}"
    );
    assert!(sheet.contains("- Failed Requests: 0\n"), "{sheet}");
    assert!(sheet.contains(&format!("- Target host: {host}")), "{sheet}");
    assert!(read(&dirs[0].join("console.log")).contains("Response time percentiles"));
    let report = read(&dirs[0].join("report.html"));
    assert!(
        report.contains(&format!("<dd>{host}</dd>")),
        "the report names the target"
    );
    assert!(
        run.stderr.contains(&format!(
            "Report: {}/report.html",
            dirs[0].strip_prefix(dir.path()).unwrap().display()
        )),
        "{}",
        run.output()
    );
}

#[test]
fn a_host_that_does_not_answer_is_said_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("http://127.0.0.1:{}", closed_port());
    let run = run_cmd(script(dir.path()).args(["quick", "--host", &host]));
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr.contains(&format!("nothing answers at {host}")),
        "{}",
        run.output()
    );
    assert!(
        result_dirs(dir.path()).is_empty(),
        "no results folder for a run that never started"
    );
    let run = run_cmd(script(dir.path()).args(["sprint"]));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown preset 'sprint'"),
        "{}",
        run.output()
    );
    let run = run_cmd(script(dir.path()).args(["standard", "many"]));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("users must be a whole number"),
        "{}",
        run.output()
    );
}

#[test]
fn spike_runs_the_medication_guides_stages() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("http://{}", demo(0.0));
    // A stand-in for locusta that records its arguments: the real stages take 5.5 minutes.
    let fake = write(
        dir.path(),
        "fake-locusta",
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/args.txt\"\n",
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = run_cmd(
        script(dir.path())
            .env("LOCUSTA_BIN", &fake)
            .args(["spike", "--host", &host]),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let args = read(&dir.path().join("args.txt"));
    let args: Vec<&str> = args.lines().collect();
    let at = args
        .iter()
        .position(|a| *a == "--stages")
        .expect("--stages");
    // 0 to 100 over 2 minutes, to 500 in 30 s, hold a minute, straight back to 100 for 2.
    assert_eq!(args[at + 1], "2m:100,30s:500,1m:500,2m:100:500");
    assert!(!args.contains(&"-u") && !args.contains(&"-t"), "{args:?}");
    let name = result_dirs(dir.path())[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("spike_500users_"), "{name}");
    let run = run_cmd(
        script(dir.path())
            .env("LOCUSTA_BIN", &fake)
            .args(["spike", "50", "--host", &host]),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(read(&dir.path().join("args.txt")).contains("2m:10,30s:50,1m:50,2m:10:50"));
    let run = run_cmd(
        script(dir.path())
            .env("LOCUSTA_BIN", &fake)
            .args(["spike", "50", "5m", "--host", &host]),
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("spike's stages set its duration"),
        "{}",
        run.output()
    );

    // The real binary accepts what the script builds.
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "scenarios/cistrade.yaml",
            "--stages",
            "2m:100,30s:500,1m:500,2m:100:500",
            "--list",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
}

#[test]
fn a_baseline_is_compared_in_the_same_call() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("http://127.0.0.1:{}", closed_port());
    let preset = ["quick", "20", "3s", "--demo", "--host", &host];
    let run = run_cmd(
        script(dir.path())
            .args(preset)
            .args(["--", "--only-summary"]),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let first = result_dirs(dir.path()).remove(0);
    let stats = csv_rows(&first.join("stats_stats.csv"));
    let total: u64 = stats.last().unwrap()[2].parse().unwrap();
    assert!(
        total >= 20,
        "compare judges only endpoints with 20 requests: {total}"
    );

    // A baseline that served ten times the requests per second: the new run regressed. Its
    // response times are made a second slower than this run's, so that only the rate judges
    // and two real runs' latency (a median of 5 ms in one, 40 ms in the next on a busy
    // machine) can never decide the outcome.
    let faster = dir.path().join("faster");
    std::fs::create_dir(&faster).unwrap();
    let mut out = csv::Writer::from_path(faster.join("stats_stats.csv")).unwrap();
    let header = stats[0].clone();
    for (i, mut row) in stats.into_iter().enumerate() {
        if i > 0 {
            row[9] = format!("{}", row[9].parse::<f64>().unwrap() * 10.0);
            for (cell, name) in row.iter_mut().zip(&header) {
                let latency = name.ends_with("Response Time") || name.ends_with('%');
                if let (true, Ok(ms)) = (latency, cell.parse::<f64>()) {
                    *cell = format!("{}", (ms + 1000.0).round());
                }
            }
        }
        out.write_record(&row).unwrap();
    }
    out.flush().unwrap();
    // Results folders are named to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = run_cmd(script(dir.path()).args(preset).args([
        "--baseline",
        "faster",
        "--",
        "--only-summary",
    ]));
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(
        run.stderr.contains("Against the baseline"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("All requests: RPS "),
        "{}",
        run.output()
    );
    let second = result_dirs(dir.path())
        .into_iter()
        .find(|d| *d != first)
        .unwrap();
    let md = read(&second.join("compare.md"));
    assert!(md.contains("| Endpoint | Requests | Median |"), "{md}");

    // The same comparison within a wide limit passes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = run_cmd(script(dir.path()).args(preset).args([
        "--baseline",
        "faster",
        "--max-regression",
        "500%",
        "--",
        "--only-summary",
    ]));
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains("No regressions beyond the limits"),
        "{}",
        run.output()
    );

    // Paths are the caller's: a baseline beside where the script is run from, not beside it.
    let caller = dir.path().join("elsewhere");
    std::fs::create_dir_all(caller.join("mine")).unwrap();
    std::fs::copy(
        faster.join("stats_stats.csv"),
        caller.join("mine/stats_stats.csv"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = run_cmd(script(dir.path()).current_dir(&caller).args(preset).args([
        "--baseline",
        "mine",
        "--",
        "--only-summary",
    ]));
    assert_eq!(run.code, 3, "{}", run.output());

    // An unreadable baseline or a bad limit fails before the run.
    let run = run_cmd(
        script(dir.path())
            .args(preset)
            .args(["--baseline", "nowhere"]),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--baseline"), "{}", run.output());
    assert!(run.stderr.contains("nowhere_stats.csv"), "{}", run.output());
    let run = run_cmd(script(dir.path()).args(preset).args([
        "--baseline",
        "faster",
        "--max-regression",
        "lots",
    ]));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--max-regression must be a percentage such as 20%, got 'lots'"),
        "{}",
        run.output()
    );
    assert_eq!(result_dirs(dir.path()).len(), 4);
}

#[test]
fn a_fresh_clone_has_benchmark_results_and_ignores_only_run_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("benchmark_results/README.md").is_file());
    let ignored = |path: &str| {
        Command::new("git")
            .current_dir(root)
            .args(["check-ignore", "-q", path])
            .status()
            .map(|s| s.code() == Some(0))
    };
    match ignored("benchmark_results/quick_50users_20261201_230000/stats_stats.csv") {
        Ok(run_folder) => {
            assert!(run_folder, "a run folder is ignored");
            for kept in [
                "benchmark_results/README.md",
                "benchmark_results/baseline/stats_stats.csv",
                "benchmark_results/release-1.4/stats_stats.csv",
            ] {
                assert_eq!(ignored(kept).ok(), Some(false), "{kept} can be committed");
            }
        }
        Err(_) => missing_tool("git", "benchmark_results/'s ignore rules"),
    }
}

#[test]
fn a_saved_baseline_gates_the_next_run_of_the_same_preset_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lists.yaml", LISTS_SCENARIO);
    // The demo target with every list held 30 ms, and one where the currency list takes 90 ms.
    let server = |currency_ms: u64| {
        let delays = vec![
            ("/reference-data/".to_string(), Duration::from_millis(30)),
            (
                "/reference-data/currency/".to_string(),
                Duration::from_millis(currency_ms),
            ),
        ];
        let addr = runtime().block_on(async {
            locusta::demo::spawn_with_delays("127.0.0.1:0", 0.0, delays)
                .await
                .unwrap()
        });
        format!("http://{addr}")
    };
    let (normal, slowed) = (server(30), server(90));
    let bench = |preset: &str, host: &str, extra: &[&str]| {
        run_cmd(
            script(dir.path())
                .args([
                    preset,
                    "4",
                    "3s",
                    "--host",
                    host,
                    "--scenario",
                    "lists.yaml",
                ])
                .args(extra)
                .args(["--", "--only-summary"]),
        )
    };
    let baseline = dir.path().join("benchmark_results/baseline");

    let run = bench("quick", &normal, &["--save-baseline"]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains("Saved benchmark_results/quick_4users_"),
        "{}",
        run.output()
    );
    assert!(baseline.join("stats_stats.csv").is_file());
    let about = read(&baseline.join("baseline.txt"));
    assert!(about.starts_with("preset=quick\nusers=4\n"), "{about}");
    // The guide's scripts read benchmark_results/baseline/ and benchmark_results/latest/.
    let latest = dir.path().join("benchmark_results/latest");
    assert_eq!(
        read(&latest.join("stats_stats.csv")),
        read(&baseline.join("stats_stats.csv"))
    );

    // Three times slower on one list: the same preset compares by itself and fails the gate.
    let run = bench("quick", &slowed, &[]);
    assert_eq!(run.code, 3, "{}", run.output());
    assert!(
        run.stderr
            .contains("Comparing with the baseline in benchmark_results/baseline/ (quick, 4 users"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("GET Currency List: Median"),
        "{}",
        run.output()
    );

    // --no-baseline turns it off; another preset is not compared, and says why.
    let run = bench("quick", &slowed, &["--no-baseline"]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.stderr.contains("Comparing with"), "{}", run.output());
    let run = bench("standard", &slowed, &[]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains(
            "Not comparing with benchmark_results/baseline/: it is a quick run of 4 users, this is standard with 4"
        ),
        "{}",
        run.output()
    );

    // A run with failed requests never becomes the baseline; a clean one replaces it and says
    // what it held.
    write(
        dir.path(),
        "failing.yaml",
        &format!("{LISTS_SCENARIO}          - {{get: /no-such-page/, name: Missing}}\n"),
    );
    let run = run_cmd(
        script(dir.path())
            .args([
                "quick",
                "4",
                "3s",
                "--host",
                &normal,
                "--scenario",
                "failing.yaml",
            ])
            .args(["--save-baseline", "--", "--only-summary"]),
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr
            .contains("The run exited with 1: benchmark_results/baseline/ was not replaced"),
        "{}",
        run.output()
    );
    assert_eq!(read(&baseline.join("baseline.txt")), about);
    let run = bench("standard", &slowed, &["--save-baseline"]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains(
            "Replacing the baseline in benchmark_results/baseline/ (quick, 4 users, from benchmark_results/quick_4users_"
        ),
        "{}",
        run.output()
    );
    assert!(read(&baseline.join("baseline.txt")).starts_with("preset=standard\n"));
}
