//! How fast can the HTTP client alone go? A bare loop of GETs, no scenario, no statistics
//! beyond a count and a histogram, through either the reqwest client locusta uses or hyper's
//! HTTP/1 connections driven directly (one per task). `bench/perf.py` runs it beside wrk and
//! locusta, so the table shows which part of locusta's cost is the client's.
//!
//!     cargo run --release --example client_ceiling -- reqwest|hyper URL CONNECTIONS SECONDS
//!
//! Prints `requests N p50_us P p99_us Q`. Loads only the URL given (use 127.0.0.1).

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Histogram = hdrhistogram::Histogram<u64>;

/// One client shared by every task, as locusta shares its pool between users.
async fn reqwest_loop(client: reqwest::Client, url: reqwest::Url, until: Instant) -> Histogram {
    let mut h = Histogram::new(3).expect("histogram");
    while Instant::now() < until {
        let start = Instant::now();
        let response = client.get(url.clone()).send().await.expect("request");
        response.bytes().await.expect("body");
        h.saturating_record(start.elapsed().as_micros() as u64);
    }
    h
}

async fn hyper_loop(url: reqwest::Url, until: Instant) -> Histogram {
    let host = url.host_str().expect("host").to_string();
    let port = url.port_or_known_default().expect("port");
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("handshake");
    tokio::spawn(connection);
    let authority = format!("{host}:{port}");
    let mut h = Histogram::new(3).expect("histogram");
    while Instant::now() < until {
        let start = Instant::now();
        let request = http::Request::get(url.path())
            .header(http::header::HOST, authority.as_str())
            .body(Empty::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        response.into_body().collect().await.expect("body");
        h.saturating_record(start.elapsed().as_micros() as u64);
    }
    h
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, url, connections, seconds] = &args[..] else {
        eprintln!("usage: client_ceiling reqwest|hyper URL CONNECTIONS SECONDS");
        std::process::exit(2);
    };
    let url: reqwest::Url = url.parse().expect("URL");
    let connections: usize = connections.parse().expect("connections");
    let until = Instant::now() + Duration::from_secs(seconds.parse().expect("seconds"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let total = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .expect("client");
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let url = url.clone();
                match mode.as_str() {
                    "reqwest" => tokio::spawn(reqwest_loop(client.clone(), url, until)),
                    _ => tokio::spawn(hyper_loop(url, until)),
                }
            })
            .collect();
        let mut total = Histogram::new(3).expect("histogram");
        for t in tasks {
            total
                .add(t.await.expect("task"))
                .expect("same histogram shape");
        }
        total
    });
    println!(
        "requests {} p50_us {} p99_us {}",
        total.len(),
        total.value_at_quantile(0.5),
        total.value_at_quantile(0.99)
    );
}
