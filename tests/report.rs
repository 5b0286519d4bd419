//! The HTML report: `--html` at the end of a run, and `locusta report` from CSV files (locusta's
//! and Locust's own), read back as HTML.

mod common;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;
use scraper::{Html, Selector};

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).expect("selector"))
        .collect()
}

fn text(e: &scraper::ElementRef<'_>) -> String {
    e.text().collect::<String>().trim().to_string()
}

/// The cells of each body row of the first table under `section`.
fn table(doc: &Html, section: &str) -> Vec<Vec<String>> {
    select(doc, &format!("#{section} table tbody tr"))
        .iter()
        .map(|tr| select_in(tr, "td").iter().map(text).collect())
        .collect()
}

fn select_in<'a>(e: &scraper::ElementRef<'a>, css: &str) -> Vec<scraper::ElementRef<'a>> {
    e.select(&Selector::parse(css).expect("selector")).collect()
}

/// A server whose answers carry markup: a report that did not escape it would run it.
fn hostile_server() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/status",
                get(|| async {
                    Json(serde_json::json!({"state": "<script>alert('server')</script>"}))
                }),
            )
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "<b>boom</b>") }),
            ),
    )
}

const HOSTILE: &str = r#"
users:
  Browser:
    weight: 3
    wait_time: {constant: 0.05}
    tasks:
      - get: /ok
        name: Home
        weight: 2
      - get: /status
        name: "<img src=x onerror=alert('name')>"
        expect: {json: {"$.state": ok}}
      - get: /broken
        name: Broken
  Idle:
    wait_time: {constant: 0.2}
    tasks:
      - get: /ok
        name: Idle home
"#;

#[test]
fn a_run_writes_a_report_with_every_section_and_escapes_what_it_shows() {
    let addr = hostile_server();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", HOSTILE);
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3s",
            "--headless",
            "--only-summary",
            "--html",
            "out/report_{u}_{r}_{t}.html",
        ],
    );
    assert_eq!(
        run.code,
        1,
        "requests failed, so exit code 1: {}",
        run.output()
    );
    let path = dir.path().join("out/report_4_4_3.html");
    assert!(
        run.stderr
            .contains("Wrote the HTML report to out/report_4_4_3.html"),
        "{}",
        run.output()
    );
    let html = read(&path);

    // Nothing the server or the scenario said became markup.
    assert!(
        !html.contains("<script>alert"),
        "server text was not escaped"
    );
    assert!(
        !html.contains("<img src=x"),
        "a request name was not escaped"
    );
    assert!(!html.contains("<b>boom"), "a response body was not escaped");
    assert!(html.contains("&lt;img src=x onerror=alert(&#39;name&#39;)&gt;"));
    // Self-contained: nothing to fetch (the one URL is the SVG namespace, not a request).
    for needle in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(needle),
            "the report refers to something outside it: {needle}"
        );
    }
    assert!(
        html.len() < 200_000,
        "a short run's report is small: {} bytes",
        html.len()
    );

    let doc = Html::parse_document(&html);
    let meta: Vec<String> = select(&doc, "dl.meta dt, dl.meta dd")
        .iter()
        .map(text)
        .collect();
    for (label, value) in [
        ("Scenario", "s.yaml"),
        ("Target host", host.as_str()),
        ("Users", "4"),
        ("Run time", "3 seconds"),
    ] {
        let at = meta
            .iter()
            .position(|m| m == label)
            .unwrap_or_else(|| panic!("no {label} in {meta:?}"));
        assert_eq!(meta[at + 1], value, "{meta:?}");
    }

    // The statistics match the run's own summary: rows per endpoint, Aggregated in the footer.
    let stats = table(&doc, "statistics");
    let names: Vec<&str> = stats.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "<img src=x onerror=alert('name')>",
            "Broken",
            "Home",
            "Idle home"
        ],
        "{stats:?}"
    );
    let broken = stats.iter().find(|r| r[1] == "Broken").unwrap();
    assert_eq!(
        broken[2], broken[3],
        "every Broken request failed: {broken:?}"
    );
    let total = select(&doc, "#statistics tfoot td")
        .iter()
        .map(text)
        .collect::<Vec<_>>();
    assert_eq!(total[1], "Aggregated");
    let summary_total = run
        .stderr
        .rsplit("Shutting down")
        .next()
        .unwrap()
        .lines()
        .find(|l| l.trim_start().starts_with("Aggregated"))
        .unwrap();
    assert_eq!(
        summary_total.split_whitespace().nth(1).unwrap(),
        total[2],
        "{summary_total}"
    );
    let sum: u64 = stats.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(sum.to_string(), total[2]);
    assert_eq!(table(&doc, "percentiles").len(), 4);

    // Failures, with the server's own words shown as text.
    let failures = table(&doc, "failures");
    let check = failures
        .iter()
        .find(|r| r[1].starts_with("<img"))
        .expect("the check's failure");
    assert_eq!(
        check[2],
        r#"CatchResponseError('expected $.state to be "ok", found "<script>alert(\'server\')</script>"')"#
    );
    let broken = failures
        .iter()
        .find(|r| r[1] == "Broken")
        .expect("Broken's failure");
    assert_eq!(
        broken[2],
        "HTTPError('500 Server Error: Internal Server Error for url: Broken')"
    );

    // Red flags: the failure rate, overall and per endpoint.
    let flags: Vec<String> = select(&doc, ".flags li strong").iter().map(text).collect();
    assert!(
        flags.iter().any(|f| f.ends_with("of all requests failed")),
        "{flags:?}"
    );
    assert!(
        flags.contains(&"100.0% of requests failed: GET Broken".to_string()),
        "{flags:?}"
    );

    // Charts with data: a line per series, and hover values.
    let charts = select(&doc, "#charts figure h3")
        .iter()
        .map(text)
        .collect::<Vec<_>>();
    for title in [
        "Total requests per second",
        "Response times",
        "Number of users",
        "Total requests",
        "Slowest endpoints",
    ] {
        assert!(
            charts.contains(&title.to_string()),
            "no {title} chart in {charts:?}"
        );
    }
    assert!(
        select(&doc, "svg.chart polyline").len() >= 6,
        "charts without lines"
    );
    assert!(
        select(&doc, "svg.chart rect.band title").len() >= 2,
        "no hover values"
    );

    // The users at the end and the task ratios.
    let users = table(&doc, "users");
    assert_eq!(users, [["Browser", "3"], ["Idle", "1"]]);
    let ratios: Vec<String> = select(&doc, "ul.ratios li").iter().map(text).collect();
    assert!(ratios.contains(&"75.0%Browser".to_string()), "{ratios:?}");
}

#[test]
fn report_rebuilds_the_page_from_a_runs_csv_files() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "users:\n  Reader:\n    wait_time: {constant: 0.02}\n    tasks:\n      - get: /reference-data/currency/\n        name: Currency List\n      - get: /missing/\n        name: Missing\n",
    );
    let host = format!("http://{addr}");
    let run = locusta_line(
        dir.path(),
        &format!(
            "-f s.yaml -H {host} -u 2 -r 2 -t 3s --headless --only-summary --csv results/stats --csv-full-history --run-sheet results/run_sheet.txt"
        ),
    );
    assert_eq!(run.code, 1, "{}", run.output());

    let made = locusta(dir.path(), &["report", "results"]);
    assert_eq!(made.code, 0, "{}", made.output());
    assert_eq!(made.stdout.trim(), "results/report.html");
    let doc = Html::parse_document(&read(&dir.path().join("results/report.html")));

    // The same numbers as the CSV file, row by row.
    let csv = csv_rows(&dir.path().join("results/stats_stats.csv"));
    let stats = table(&doc, "statistics");
    assert_eq!(stats.len(), 2);
    for row in &stats {
        let from_csv = stats_row(&csv, &row[0], &row[1]);
        assert_eq!(row[2], from_csv[2], "requests of {}", row[1]);
        assert_eq!(row[3], from_csv[3], "failures of {}", row[1]);
    }
    // The run sheet fills in the run's facts; the full history gives the per-endpoint chart.
    let meta: Vec<String> = select(&doc, "dl.meta dd").iter().map(text).collect();
    assert!(meta.contains(&host), "{meta:?}");
    assert!(meta.iter().any(|m| m.starts_with("locusta ")), "{meta:?}");
    let charts = select(&doc, "#charts figure h3")
        .iter()
        .map(text)
        .collect::<Vec<_>>();
    assert!(
        charts.contains(&"Slowest endpoints".to_string()),
        "{charts:?}"
    );
    let failures = table(&doc, "failures");
    assert_eq!(
        failures[0][2],
        "HTTPError('404 Client Error: Not Found for url: Missing')"
    );

    // A prefix instead of a folder, and an explicit output file.
    let made = locusta(
        dir.path(),
        &["report", "results/stats", "-o", "elsewhere/r.html"],
    );
    assert_eq!(made.code, 0, "{}", made.output());
    assert!(dir.path().join("elsewhere/r.html").is_file());
    let made = locusta(dir.path(), &["report", "results/stats"]);
    assert_eq!(made.stdout.trim(), "results/stats_report.html");
}

#[test]
fn report_reads_locusts_own_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("locust.html");
    let made = locusta(
        dir.path(),
        &[
            "report",
            fixture("locust/run").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(made.code, 0, "{}", made.output());
    let doc = Html::parse_document(&read(&out));
    let csv = csv_rows(&fixture("locust/run_stats.csv"));
    let stats = table(&doc, "statistics");
    assert_eq!(
        stats.len(),
        csv.len() - 2,
        "every row but the header and Aggregated"
    );
    for row in &stats {
        let from_csv = stats_row(&csv, &row[0], &row[1]);
        assert_eq!(
            (&row[2], &row[3]),
            (&from_csv[2], &from_csv[3]),
            "{}",
            row[1]
        );
    }
    let failures = table(&doc, "failures");
    let from_csv = csv_rows(&fixture("locust/run_failures.csv"));
    assert_eq!(failures.len(), from_csv.len() - 1);
    assert_eq!(failures[0][2], from_csv[1][2]);
    // Locust's history file has cumulative percentiles, and the page says so.
    let notes: Vec<String> = select(&doc, "#charts .note").iter().map(text).collect();
    assert!(
        notes.iter().any(|n| n.contains("Cumulative percentiles")),
        "{notes:?}"
    );
    assert!(select(&doc, "svg.chart polyline").len() >= 4);
}

#[test]
fn report_says_what_is_wrong_with_its_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::create_dir(dir.path().join("two")).unwrap();
    for p in ["two/a_stats.csv", "two/b_stats.csv"] {
        std::fs::copy(fixture("locust/run_stats.csv"), dir.path().join(p)).unwrap();
    }
    std::fs::write(
        dir.path().join("bad_stats.csv"),
        b"Type,Name,Request Count\nGET,a,1\n\xff\xfe,x,2\n",
    )
    .unwrap();
    write(dir.path(), "other_stats.csv", "just,some,columns\n1,2,3\n");
    for (args, message) in [
        (
            vec!["report"],
            "the following required arguments were not provided",
        ),
        (
            vec!["report", "nowhere"],
            "no nowhere_stats.csv (give a folder of results or a --csv prefix)",
        ),
        (vec!["report", "empty"], "empty holds no *_stats.csv file"),
        (
            vec!["report", "two"],
            "two holds several runs (two/a, two/b); give one prefix",
        ),
        (
            vec!["report", "bad"],
            "bad_stats.csv: CSV parse error: record 2 (line 3, field: 0",
        ),
        (
            vec!["report", "other"],
            "other_stats.csv is not a stats file: it has no Type, Name and Request Count columns",
        ),
    ] {
        let run = locusta(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.output());
        assert!(run.stderr.contains(message), "{args:?}: {}", run.output());
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "one line: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"));
    }
}
