//! Target faults never stop or crash a run: each becomes a failure row in Locust's words, and
//! the users carry on. The server is `common::faults`, which misbehaves one way per path.

mod common;

use std::time::{Duration, Instant};

use common::faults::*;
use common::*;

/// Every fault in one flow, each followed by a request that must still succeed.
fn scenario(port: u16, dead: u16) -> String {
    let faults = [
        "/reset",
        "/short",
        "/close",
        "/hang",
        "/trickle",
        "/garbage",
        "/bad-chunk",
        "http://nonexistent.invalid/dns",
        &format!("https://127.0.0.1:{port}/tls"),
        &format!("http://127.0.0.1:{dead}/refused"),
    ];
    let mut flow = String::new();
    for (i, f) in faults.iter().enumerate() {
        let name = f.rsplit('/').next().unwrap();
        flow.push_str(&format!(
            "          - {{get: \"{f}\", name: {name}}}\n          - {{get: /ok, name: ok-{i}}}\n"
        ));
    }
    format!(
        "defaults: {{timeout: 1s}}\nusers:\n  U:\n    wait_time: {{constant: 0.1}}\n    tasks:\n      - name: faults\n        flow:\n{flow}          - get: /idle-close\n          - wait: 0.1\n          - {{get: /ok, name: after-idle-close}}\n          - get: /drop-next\n          - {{get: /ok, name: after-drop-next}}\n"
    )
}

#[test]
fn every_fault_becomes_a_failure_row_and_the_run_goes_on() {
    let addr = fault_server();
    let dead = closed_port();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", &scenario(addr.port(), dead));
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
            "8s",
            "--headless",
            "--only-summary",
            "--csv",
            "f",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    // An 8 s run; had it waited for a hanging connection it would take 8 + 60 s. The bound is
    // generous for a loaded machine and still far from that.
    assert!(
        run.elapsed < Duration::from_secs(40),
        "the run ended on time: {:?}",
        run.elapsed
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    let failures = csv_rows(&dir.path().join("f_failures.csv"));
    let error = |name: &str| -> String {
        let rows: Vec<&Vec<String>> = failures.iter().filter(|r| r[1] == name).collect();
        assert_eq!(rows.len(), 1, "one error for {name}: {failures:?}");
        rows[0][2].clone()
    };
    let port = addr.port();
    // Exactly what Locust 2.47 records for these (tests/locust_parity.rs checks them side by side).
    assert_eq!(
        error("reset"),
        "ChunkedEncodingError(ProtocolError(\"Connection broken: ConnectionResetError(104, 'Connection reset by peer')\", ConnectionResetError(104, 'Connection reset by peer')))"
    );
    assert_eq!(
        error("short"),
        "ChunkedEncodingError(ProtocolError('Connection broken: IncompleteRead(1000 bytes read, 99000 more expected)', IncompleteRead(1000 bytes read, 99000 more expected)))"
    );
    assert_eq!(
        error("close"),
        "RemoteDisconnected('Remote end closed connection without response')"
    );
    assert_eq!(
        error("hang"),
        format!(
            "ReadTimeout(ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1', port={port}): Read timed out. (read timeout=1)\"))"
        )
    );
    assert_eq!(
        error("tls"),
        format!(
            "ReadTimeout(ReadTimeoutError(\"HTTPSConnectionPool(host='127.0.0.1', port={port}): Read timed out. (read timeout=1)\"))"
        )
    );
    assert_eq!(
        error("refused"),
        "ConnectionRefusedError(111, 'Connection refused')"
    );
    // locusta's timeout covers the whole request, so a trickle fails where python-requests
    // (a timeout per read) would hold the user for its full 20 seconds.
    assert_eq!(error("trickle"), error("hang"));
    // What python-requests raised, run against this server (Locust unwraps the ConnectionError
    // around the BadStatusLine, not the ChunkedEncodingError).
    assert_eq!(
        error("garbage"),
        "BadStatusLine('SSH-2.0-OpenSSH_9.2\\r\\n')"
    );
    assert_eq!(
        error("bad-chunk"),
        "ChunkedEncodingError(ProtocolError(\"Connection broken: InvalidChunkLength(got length b'zz\\\\r\\\\n', 0 bytes read)\", InvalidChunkLength(got length b'zz\\r\\n', 0 bytes read)))"
    );
    // Without a resolver answer for .invalid, getaddrinfo's words (-2, or -3 offline).
    assert!(error("dns").starts_with("gaierror(-"), "{}", error("dns"));

    // Between the faults, and on a connection the server closed while idle, requests succeed.
    let stats = csv_rows(&dir.path().join("f_stats.csv"));
    for row in stats
        .iter()
        .filter(|r| r[1].starts_with("ok-") || r[1].starts_with("after-"))
    {
        assert_eq!(row[3], "0", "{} failed: {failures:?}", row[1]);
    }
    let ok_rows = stats.iter().filter(|r| r[1].starts_with("ok-")).count();
    assert_eq!(ok_rows, 10, "every fault was passed: {stats:?}");
    assert!(
        stats_row(&stats, "GET", "after-idle-close")[2]
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    // A connection closed just as it was reused: the request went again on a new one.
    assert!(
        stats_row(&stats, "GET", "after-drop-next")[2]
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    assert!(NEXT_REQUESTS_DROPPED.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

/// The peak resident memory of a running process, sampled until it exits.
fn run_sampling_memory(mut child: std::process::Child, limit: Duration) -> (Run, u64) {
    let started = Instant::now();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    while child.try_wait().unwrap().is_none() && started.elapsed() < limit {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let rss = text
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(rss);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (finish(child, started, limit), peak_kib)
}

#[cfg(target_os = "linux")]
#[test]
fn a_body_of_gigabytes_is_counted_as_it_streams_not_kept() {
    let addr = fault_server();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "defaults: {timeout: 120s}\nusers:\n  U:\n    wait_time: {constant: 0.1}\n    tasks:\n      - {get: /huge, name: huge}\n",
    );
    let host = format!("http://{addr}");
    let child = command(dir.path())
        .args([
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "1",
            "-r",
            "1",
            "-i",
            "1",
            "--headless",
            "--only-summary",
            "--csv",
            "h",
        ])
        .spawn()
        .unwrap();
    let (run, peak_kib) = run_sampling_memory(child, Duration::from_secs(180));
    assert_eq!(run.code, 0, "{}", run.output());
    let stats = csv_rows(&dir.path().join("h_stats.csv"));
    let row = stats_row(&stats, "GET", "huge");
    assert_eq!(row[2], "1");
    let size = stats[0]
        .iter()
        .position(|c| c == "Average Content Size")
        .unwrap();
    assert_eq!(
        row[size].parse::<f64>().unwrap(),
        HUGE_BODY as f64,
        "every byte counted"
    );
    eprintln!("2 GiB streamed; peak RSS {peak_kib} KiB");
    assert!(
        peak_kib < 150 * 1024,
        "2 GiB streamed through {peak_kib} KiB of memory"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn too_many_open_files_is_said_clearly() {
    let addr = fault_server();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "defaults: {timeout: 2s}\nusers:\n  U:\n    wait_time: {constant: 0.1}\n    tasks: [{get: /hang}]\n",
    );
    let host = format!("http://{addr}");
    // A hard limit of 48 files, and 80 users each holding a connection to a server that hangs.
    let run = run_cmd(
        std::process::Command::new("bash")
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .arg("-c")
            .arg("ulimit -n 48 && exec \"$@\"")
            .arg("locusta")
            .arg(env!("CARGO_BIN_EXE_locusta"))
            .args([
                "-f", "s.yaml", "-H", &host, "-u", "80", "-r", "80", "-t", "3s",
            ])
            .args(["--headless", "--only-summary", "--csv", "m"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("The open-files limit is 48, too low for 80 users"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("Too many open files: the users need more connections than this process may open (its open-files limit is 48)"),
        "{}",
        run.output()
    );
    assert_eq!(
        run.stderr
            .matches("Too many open files: the users need")
            .count(),
        1,
        "said once"
    );
    let failures = csv_rows(&dir.path().join("m_failures.csv"));
    let errors: Vec<&str> = failures[1..].iter().map(|r| r[2].as_str()).collect();
    assert!(
        errors.contains(&"OSError(24, 'Too many open files')"),
        "{errors:?}"
    );
}
