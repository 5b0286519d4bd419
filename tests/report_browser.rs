//! The HTML report in a real browser: headless Chromium loads the report of a demo run with no
//! console message at all (script errors and blocked network loads both print one), draws every
//! chart with data, sorts a table on click, and takes a screenshot.
//!
//! Needs `chromium` (Debian's package; `.ci/run` installs it and sets `LOCUSTA_REQUIRE_BROWSER=1`
//! so that CI cannot skip this). Without a browser and without that variable, the test says so and
//! passes. `LOCUSTA_CHROMIUM` names another binary; `LOCUSTA_SCREENSHOT=FILE` keeps the screenshot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LOCUSTA_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// What headless Chromium printed: its stderr log and stdout (the DOM, with `--dump-dom`).
struct Loaded {
    dom: String,
    console: Vec<String>,
}

fn chromium(browser: &Path, profile: &Path, extra: &[&str], page: &Path) -> Loaded {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(page)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let run = finish(
        cmd.spawn().expect("start chromium"),
        Instant::now(),
        Duration::from_secs(90),
    );
    assert_eq!(run.code, 0, "chromium failed: {}", run.stderr);
    Loaded {
        dom: run.stdout,
        console: run
            .stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
    }
}

/// Runs in the page once it has loaded, and leaves what it found in `<pre id="probe">`.
const PROBE: &str = r##"<script>
window.addEventListener("load", function () {
  var out = {};
  var charts = document.querySelectorAll("svg.chart");
  out.charts = charts.length;
  out.drawn = Array.prototype.filter.call(charts, function (svg) {
    return Array.prototype.some.call(svg.querySelectorAll("polyline"), function (l) { return l.getBBox().width > 100; });
  }).length;
  var th = document.querySelector("#statistics thead th:nth-child(3)");
  function column() {
    return Array.prototype.map.call(document.querySelectorAll("#statistics tbody tr"), function (r) { return parseInt(r.cells[2].textContent, 10); });
  }
  th.click();
  out.ascending = column();
  th.click();
  out.descending = column();
  out.footer = document.querySelector("#statistics tfoot td:nth-child(2)").textContent;
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"##;

#[test]
fn the_report_of_a_demo_run_loads_cleanly_in_headless_chromium() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("LOCUSTA_REQUIRE_BROWSER").is_none(),
            "LOCUSTA_REQUIRE_BROWSER is set but no chromium was found"
        );
        missing_tool(
            "chromium (Debian's package, or LOCUSTA_CHROMIUM)",
            "the report in a browser",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // First, that this harness notices problems at all: a script error and a blocked network
    // load each print a console line.
    let broken = write(
        dir.path(),
        "broken.html",
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\">\
         <img src=\"http://example.invalid/x.png\"><script>throw new Error('probe')</script>",
    );
    let loaded = chromium(
        &browser,
        &dir.path().join("profile-0"),
        &["--dump-dom"],
        &broken,
    );
    assert!(
        loaded
            .console
            .iter()
            .any(|l| l.contains("Uncaught Error: probe")),
        "{:?}",
        loaded.console
    );
    assert!(
        loaded
            .console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{:?}",
        loaded.console
    );

    let addr = demo(0.1);
    write(
        dir.path(),
        "s.yaml",
        "users:\n  Reader:\n    wait_time: {between: [0.05, 0.1]}\n    tasks:\n      - get: /reference-data/currency/\n        name: Currency List\n        weight: 3\n      - get: /portfolio/?format=json\n        name: Portfolio List\n      - get: /nowhere/\n        name: Missing\n",
    );
    let run = locusta_line(
        dir.path(),
        &format!(
            "-f s.yaml -H http://{addr} -u 5 -r 5 -t 5s --headless --only-summary --html report.html"
        ),
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let report = dir.path().join("report.html");

    // The report as written: no console line, and a screenshot with something on it.
    let shot = dir.path().join("report.png");
    let loaded = chromium(
        &browser,
        &dir.path().join("profile-1"),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &report,
    );
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 50_000,
        "a near-empty screenshot: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("LOCUSTA_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // With a probe added: every chart drawn, and the table sorting both ways.
    let probed = read(&report).replace("</body>", &format!("{PROBE}</body>"));
    let probed_path = write(dir.path(), "probed.html", &probed);
    let loaded = chromium(
        &browser,
        &dir.path().join("profile-2"),
        &["--dump-dom", "--virtual-time-budget=2000"],
        &probed_path,
    );
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    let probe = loaded
        .dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe did not run: {}", loaded.dom.len()));
    let probe: serde_json::Value =
        serde_json::from_str(&probe.replace("&quot;", "\"")).expect("probe JSON");
    let charts = probe["charts"].as_u64().unwrap();
    assert!(charts >= 5, "{probe}");
    // The CPU chart may be flat at zero, but every other chart has a line across it.
    assert!(probe["drawn"].as_u64().unwrap() >= charts - 1, "{probe}");
    let ascending: Vec<u64> = serde_json::from_value(probe["ascending"].clone()).unwrap();
    let mut sorted = ascending.clone();
    sorted.sort();
    assert_eq!(ascending, sorted, "{probe}");
    assert_eq!(ascending.len(), 3);
    let descending: Vec<u64> = serde_json::from_value(probe["descending"].clone()).unwrap();
    assert_eq!(
        descending,
        ascending.iter().rev().copied().collect::<Vec<_>>(),
        "{probe}"
    );
    assert_eq!(
        probe["footer"], "Aggregated",
        "the Aggregated row stays at the bottom"
    );
}
