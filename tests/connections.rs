//! Connections follow the requests in flight, not the users: the real binary against a server
//! in the test that answers in 50 ms and counts its open connections and requests in flight.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server saw.
#[derive(Default)]
struct Seen {
    open: AtomicUsize,
    max_open: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The most requests in flight this window and the one before (windows of 2 s): what the
    /// connections may still be kept for once the load has dropped.
    window: [AtomicUsize; 2],
}

impl Seen {
    fn recent_in_flight(&self) -> usize {
        self.window[0].load(SeqCst).max(self.window[1].load(SeqCst))
    }
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that holds every answer for 50 ms.
fn slow_server(seen: Arc<Seen>) -> u16 {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let windows = seen.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let current = windows.window[0].swap(0, SeqCst);
                windows.window[1].store(current, SeqCst);
            }
        });
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                let open = seen.open.fetch_add(1, SeqCst) + 1;
                seen.max_open.fetch_max(open, SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    'connection: loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let now = seen.in_flight.fetch_add(1, SeqCst) + 1;
                            seen.max_in_flight.fetch_max(now, SeqCst);
                            seen.window[0].fetch_max(now, SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            seen.in_flight.fetch_sub(1, SeqCst);
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(ok).await.is_err() {
                                break 'connection;
                            }
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    seen.open.fetch_sub(1, SeqCst);
                });
            }
        });
        port
    })
}

#[test]
fn open_connections_follow_requests_in_flight_and_come_down_with_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Seen::default());
    let port = slow_server(seen.clone());
    let scenario = write(
        dir.path(),
        "s.yaml",
        "users:\n  Reader:\n    wait_time: {between: [1, 3]}\n    tasks: [{get: /}]\n\
         stages:\n  - {duration: 7s, users: 5000, spawn_rate: 1000}\n  \
         - {duration: 40s, users: 100, spawn_rate: 1000}\n",
    );
    let mut cmd = command(dir.path());
    cmd.args([
        "-f",
        scenario.to_str().unwrap(),
        "-H",
        &format!("http://127.0.0.1:{port}"),
        "--connection-idle-timeout",
        "2",
        "--only-summary",
    ]);
    let mut run = watch(&mut cmd);
    run.wait_for_log("(5000 total users)", Duration::from_secs(60));
    // Once the load has dropped to 100 users, the connections the peak needed go: idle for
    // longer than the timeout, they are closed.
    let deadline = Instant::now() + Duration::from_secs(35);
    let peak_open = loop {
        let (open, peak_open) = (seen.open.load(SeqCst), seen.max_open.load(SeqCst));
        if open * 10 <= peak_open && open <= 2 * seen.recent_in_flight().max(1) {
            break peak_open;
        }
        assert!(
            Instant::now() < deadline,
            "still {open} connections open (peak {peak_open}, {} requests in flight lately)",
            seen.recent_in_flight()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    run.signal(libc::SIGINT);
    let run = run.finish(Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}", run.output());
    let peak_in_flight = seen.max_in_flight.load(SeqCst);
    // Each second's batch of 1,000 users starts at once (Locust's dispatch) and sends its first
    // requests together: that, not the user count, is what the connections follow.
    assert!(
        peak_open <= 2 * peak_in_flight,
        "{peak_open} connections open at once for at most {peak_in_flight} requests in flight"
    );
    assert!(peak_open < 5000, "{peak_open} connections for 5,000 users");
}
