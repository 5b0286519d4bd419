//! The web UI in a real browser: Debian's `chromium` driven by `chromedriver` over WebDriver
//! (fantoccini). A user's path: open the page, fill the form, start a test against a server
//! in the test, see the table fill and a chart grow, edit the users, stop, download a CSV.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs both); fails in CI without
//! them, says "skipped" elsewhere.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::{runtime, watch, web_command, write};

const SCENARIO: &str = "
users:
  Browser:
    wait_time: {constant: 0.1}
    tasks:
      - {get: /fast, name: Fast}
";

fn on_path(names: &[&str], variable: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(variable) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, killed when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(binary: &PathBuf) -> Driver {
    let port = common::closed_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child, port)
}

/// Waits until the script returns something `ok` accepts (30 s at most), returning it.
async fn wait_js(client: &Client, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = client.execute(script, vec![]).await.expect("script");
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never {what}: last {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(client: &Client, id: &str) -> String {
    client
        .find(Locator::Id(id))
        .await
        .expect(id)
        .text()
        .await
        .expect("text")
}

async fn set_field(client: &Client, id: &str, value: &str) {
    let field = client.find(Locator::Id(id)).await.expect(id);
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

#[test]
fn a_user_starts_watches_edits_stops_and_downloads_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        on_path(&["chromium", "chromium-browser"], "LOCUSTA_CHROMIUM"),
        on_path(&["chromedriver"], "LOCUSTA_CHROMEDRIVER"),
    ) else {
        common::missing_tool("chromium and chromium-driver", "the web UI in a browser");
        return;
    };
    let router = axum::Router::new().route("/fast", axum::routing::get(|| async { "ok" }));
    let host = format!("http://{}", common::serve(router));
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "browser.yaml", SCENARIO);
    let mut cmd = web_command(dir.path());
    cmd.args(["--web-host", "127.0.0.1", "-P", "0", "--only-summary"])
        .args(["-f", scenario.to_str().unwrap(), "-H", &host]);
    let mut run = watch(&mut cmd);
    let line = run.wait_for_log("Starting web interface at ", Duration::from_secs(30));
    let base = line.split("at ").nth(1).unwrap().trim().to_string();
    let driver = start_driver(&chromedriver);

    runtime().block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                         format!("--user-data-dir={}", dir.path().join("profile").display())],
            }),
        );
        let client = ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a WebDriver session");

        client.goto(&format!("{base}/")).await.expect("open the page");
        client
            .wait()
            .for_element(Locator::Id("user_count"))
            .await
            .expect("the start form");
        assert_eq!(text_of(&client, "status").await, "READY");
        set_field(&client, "user_count", "6").await;
        set_field(&client, "spawn_rate", "100").await;
        client
            .find(Locator::Id("submit-button"))
            .await
            .unwrap()
            .click()
            .await
            .expect("Start");

        wait_js(&client, "6 users running", "return [document.getElementById('status').textContent, document.getElementById('users').textContent];",
            |v| v == &json!(["RUNNING", "6"])).await;
        // The table fills: the Fast row counts up, the Aggregated row is pinned below it.
        wait_js(&client, "requests in the table",
            "const r = document.querySelector('#stats-table tbody tr'); return r ? [r.cells[1].textContent, parseInt(r.cells[2].textContent.replace(/,/g, ''), 10)] : null;",
            |v| v[0] == "Fast" && v[1].as_u64() > Some(5)).await;
        let footer = text_of(&client, "stats-table").await;
        assert!(footer.contains("Aggregated"), "{footer}");

        // A chart grows: its requests line gets more points as the seconds pass.
        client.find(Locator::Css("a[data-tab=charts]")).await.unwrap().click().await.unwrap();
        let points = "const l = document.querySelector('#charts svg.chart polyline.series'); return l ? l.getAttribute('points').trim().split(/\\s+/).length : 0;";
        let first = wait_js(&client, "a chart", points, |v| v.as_u64() > Some(1)).await;
        wait_js(&client, "the chart to grow", points, |v| v.as_u64() > first.as_u64()).await;

        // Edit the running test: 6 -> 2 users.
        client.find(Locator::Id("edit-button")).await.unwrap().click().await.unwrap();
        set_field(&client, "user_count", "2").await;
        client.find(Locator::Id("submit-button")).await.unwrap().click().await.unwrap();
        wait_js(&client, "2 users", "return document.getElementById('users').textContent;", |v| v == "2").await;

        client.find(Locator::Id("stop-button")).await.unwrap().click().await.unwrap();
        wait_js(&client, "the test stopped", "return document.getElementById('status').textContent;", |v| v == "STOPPED").await;
        assert!(client.find(Locator::Id("new-button")).await.unwrap().is_displayed().await.unwrap());

        // Download data: the requests CSV link gives Locust's file.
        client.find(Locator::Css("a[data-tab=reports]")).await.unwrap().click().await.unwrap();
        let link = client.find(Locator::LinkText("Download requests CSV")).await.unwrap();
        assert!(link.is_displayed().await.unwrap());
        let csv = client
            .execute_async(
                "const done = arguments[arguments.length - 1]; fetch(document.querySelector('a[href=\"./stats/requests/csv\"]').href).then(r => r.text()).then(done);",
                vec![],
            )
            .await
            .expect("the download");
        let csv = csv.as_str().unwrap_or_default().to_string();
        assert!(csv.starts_with("Type,Name,Request Count,Failure Count,"), "{csv}");
        assert!(csv.contains("GET,Fast,"), "{csv}");
        let logs: Value = client
            .execute("return document.getElementById('message').hidden;", vec![])
            .await
            .unwrap();
        assert_eq!(logs, json!(true), "no error shown to the user");
        client.close().await.expect("close the browser");
    });
    drop(driver);
    run.signal(libc::SIGINT);
    let done = run.finish(Duration::from_secs(60));
    assert_eq!(done.code, 0, "{}", done.stderr);
}
