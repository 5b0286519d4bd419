//! The demo target behaves like the CisTrade Django app: sessions, CSRF, roles, data, latency.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(latency_scale: f64) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", demo(latency_scale)),
            cookies: Vec::new(),
        }
    }

    fn keep_cookies(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all(SET_COOKIE) {
            let (pair, _) = c.to_str().unwrap().split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            self.cookies.push((k.to_string(), v.to_string()));
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let url = format!("{}{path}", self.base);
        let req = self.client.get(url).header(COOKIE, self.cookie_header());
        runtime().block_on(async {
            let resp = req.send().await.unwrap();
            self.keep_cookies(&resp);
            let location = resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string());
            (resp.status(), resp.text().await.unwrap(), location)
        })
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, Option<String>) {
        let url = format!("{}{path}", self.base);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .client
            .post(url)
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        runtime().block_on(async {
            let resp = req.send().await.unwrap();
            self.keep_cookies(&resp);
            let location = resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string());
            (resp.status(), resp.text().await.unwrap(), location)
        })
    }

    fn form_token(page: &str) -> String {
        let start = page.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap() + 34;
        page[start..start + 32].to_string()
    }

    fn login(&mut self, user: &str) {
        let (_, page, _) = self.get("/login/");
        let token = Browser::form_token(&page);
        let (status, _, location) = self.post(
            "/login/",
            &[
                ("username", user),
                ("password", "demo"),
                ("csrfmiddlewaretoken", &token),
            ],
        );
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(location.as_deref(), Some("/dashboard/"));
    }
}

#[test]
fn login_works_like_django() {
    let mut b = Browser::new(0.0);
    let (status, _, location) = b.get("/portfolio/");
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location.as_deref(), Some("/login/?next=/portfolio/"));

    let (status, page, _) = b.get("/login/");
    assert_eq!(status, StatusCode::OK);
    let token = Browser::form_token(&page);
    assert_eq!(
        b.cookie("csrftoken").as_deref(),
        Some(token.as_str()),
        "form field and cookie agree"
    );

    let (status, page, _) = b.post(
        "/login/",
        &[
            ("username", "trader1"),
            ("password", "demo"),
            ("csrfmiddlewaretoken", "wrong"),
        ],
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("CSRF verification failed"));

    let (status, page, _) = b.post(
        "/login/",
        &[
            ("username", "trader1"),
            ("password", "nope"),
            ("csrfmiddlewaretoken", &token),
        ],
    );
    assert_eq!(
        status,
        StatusCode::OK,
        "a failed login answers 200 with the form, as Django does"
    );
    assert!(page.contains("Please enter a correct username and password"));
    assert!(b.cookie("sessionid").is_none());

    let (status, _, location) = b.post(
        "/login/?next=/udf/",
        &[
            ("username", "trader1"),
            ("password", "demo"),
            ("csrfmiddlewaretoken", &token),
        ],
    );
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::FOUND, Some("/udf/"))
    );
    assert!(b.cookie("sessionid").is_some());
    assert_ne!(
        b.cookie("csrftoken").unwrap(),
        token,
        "the CSRF token rotates at login"
    );
    let (status, page, _) = b.get("/dashboard/");
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("5000 portfolios"));

    let (status, _, location) = b.get("/logout/");
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::FOUND, Some("/login/"))
    );
    assert_eq!(b.get("/dashboard/").0, StatusCode::FOUND);
}

#[test]
fn only_makers_create_portfolios_and_only_admins_edit_fields() {
    let mut manager = Browser::new(0.0);
    manager.login("manager1");
    assert_eq!(manager.get("/portfolio/create/").0, StatusCode::FORBIDDEN);
    assert_eq!(manager.get("/udf/3/edit/").0, StatusCode::FORBIDDEN);

    let mut trader = Browser::new(0.0);
    trader.login("trader7");
    let (status, page, _) = trader.get("/portfolio/create/");
    assert_eq!(status, StatusCode::OK);
    let token = Browser::form_token(&page);
    let (status, _, location) = trader.post(
        "/portfolio/create/",
        &[
            ("name", "Load test"),
            ("currency", "USD"),
            ("status", "ACTIVE"),
            ("csrfmiddlewaretoken", &token),
        ],
    );
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.starts_with("/portfolio/50"), "{location}");
    let (status, page, _) = trader.get(&location);
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Load test"));
    let (status, page, _) = trader.post(
        "/portfolio/create/",
        &[
            ("name", ""),
            ("currency", "XXX"),
            ("csrfmiddlewaretoken", &token),
        ],
    );
    assert_eq!(status, StatusCode::OK, "an invalid form is shown again");
    assert!(page.contains("Currency: select one of"));
    assert_eq!(
        trader
            .post("/portfolio/create/", &[("name", "x"), ("currency", "USD")])
            .0,
        StatusCode::FORBIDDEN
    );

    let mut admin = Browser::new(0.0);
    admin.login("admin2");
    let (status, page, _) = admin.get("/udf/3/edit/");
    assert_eq!(status, StatusCode::OK);
    let token = Browser::form_token(&page);
    let (status, _, location) = admin.post(
        "/udf/3/edit/",
        &[("description", "Checked"), ("csrfmiddlewaretoken", &token)],
    );
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::FOUND, Some("/udf/3/"))
    );
    assert!(admin.get("/udf/3/").1.contains("Checked"));
}

#[test]
fn lists_search_filter_page_and_export() {
    let mut b = Browser::new(0.0);
    b.login("ops1");
    let (status, body, _) = b.get("/portfolio/?search=USD&format=json");
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["count"].as_u64().unwrap() > 300);
    assert!(
        v["results"].as_array().unwrap().iter().all(|p| p["name"]
            .as_str()
            .unwrap()
            .contains("USD")
            || p["currency"] == "USD")
    );
    let (_, body, _) = b.get("/portfolio/?status=CLOSED&format=json&page=2");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["page"], 2);
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "CLOSED")
    );
    let (_, page, _) = b.get("/portfolio/");
    assert!(
        page.matches("<a href=\"/portfolio/").count() >= 50,
        "a page links to 50 detail pages"
    );
    let (_, body, _) = b.get("/reference-data/counterparty/?search=Bank&format=json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["count"].as_u64().unwrap() > 20);
    for kind in ["currency", "country", "calendar", "counterparty"] {
        let (status, body, _) = b.get(&format!("/reference-data/{kind}/export/"));
        assert_eq!(status, StatusCode::OK, "{kind} export");
        assert!(body.lines().count() > 10, "{kind} export has rows");
    }
    assert_eq!(b.get("/reference-data/counterparty/17/").0, StatusCode::OK);
    assert_eq!(b.get("/portfolio/999999/").0, StatusCode::NOT_FOUND);
    let (status, _, location) = b.get("/portfolio");
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::MOVED_PERMANENTLY, Some("/portfolio/"))
    );
    let (status, body, _) = b.get("/udf/?entity_type=TRADE&format=json");
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"TRADE\"") && !body.contains("\"PORTFOLIO\""));
}

#[test]
fn latency_follows_the_endpoint_kind_and_the_scale() {
    let mut slow = Browser::new(1.0);
    slow.login("ops1");
    let started = Instant::now();
    assert_eq!(slow.get("/portfolio/export/").0, StatusCode::OK);
    // An export sleeps 300 ms ± 25% at scale 1: never under 225 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(225),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn delay_slows_the_paths_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let mut demo = command(dir.path())
        .args(["demo", "--port", &port.to_string(), "--latency-scale", "0"])
        .args(["--delay", "/health/=300ms"])
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health/");
    let elapsed = runtime().block_on(async {
        for _ in 0..100 {
            let started = Instant::now();
            if let Ok(resp) = reqwest::get(&url).await {
                assert_eq!(resp.status(), StatusCode::OK);
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the demo target did not start on port {port}");
    });
    let _ = demo.kill();
    let _ = demo.wait();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}
