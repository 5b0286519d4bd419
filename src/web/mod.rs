//! The web UI and Locust 2.47's HTTP API: a driver of the run's controller, as the command
//! line is.
//!
//! The server runs on a thread and a runtime of its own, so no page, download or scrape runs
//! on the engine's threads; handlers read the controller's snapshot (a copy of the statistics
//! made once a second) and never take a lock the users take. Answers follow Locust's bytes:
//! JSON with sorted keys and Python's number types, CSVs as the `--csv` files, CORS on every
//! route, `POST /swarm`'s errors as `200 {"success": false}`.

mod api;
mod downloads;
mod metrics;
mod page;
pub mod pyjson;
pub mod stats_json;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use tracing::info;

use crate::cli::{WebMode, WebOptions};
use crate::run::Live;

/// What the handlers share.
pub(crate) struct App {
    live: Live,
    /// The last answers of the routes that render the whole run (`/stats/requests`,
    /// `/charts`), per copy of the statistics: however many pages poll, each is rendered at
    /// most once per tick (a `/charts` of 25 endpoints takes ~11 ms).
    rendered: parking_lot::Mutex<Vec<Rendered>>,
}

struct Rendered {
    route: &'static str,
    /// Held, so its address cannot be reused by a later copy while the answer is cached.
    stats: Arc<crate::stats::RequestStats>,
    state: &'static str,
    users: usize,
    body: Arc<String>,
}

impl App {
    /// The cached body of `route` for this snapshot, or `render`'s, cached.
    pub(crate) fn rendered(
        &self,
        route: &'static str,
        snapshot: &crate::run::controller::Snapshot,
        render: impl FnOnce() -> String,
    ) -> Arc<String> {
        let stats = App::stats(snapshot);
        let (state, users) = (snapshot.state.name(), snapshot.user_count);
        if let Some(hit) = self.rendered.lock().iter().find(|r| {
            r.route == route
                && Arc::ptr_eq(&r.stats, &stats)
                && r.state == state
                && r.users == users
        }) {
            return hit.body.clone();
        }
        let body = Arc::new(render());
        let mut cache = self.rendered.lock();
        cache.retain(|r| r.route != route);
        cache.push(Rendered {
            route,
            stats,
            state,
            users,
            body: body.clone(),
        });
        body
    }
}

/// The running server; dropping it stops the server (in-flight answers get a second).
pub struct WebServer {
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub address: SocketAddr,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

/// Werkzeug's 404 page, which Locust answers for an unknown route.
async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
    )
}

/// flask-cors' defaults: the caller's origin (or `*`) on every answer, preflights answered
/// for every route with the methods and headers asked for.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let preflight = request.method() == Method::OPTIONS;
    let asked_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if preflight {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        );
        if let Some(h) = asked_headers {
            r.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h);
        }
        r
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    match origin {
        Some(o) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    response
}

/// `--web-auth`: HTTP basic auth on every route (a browser's preflight carries no
/// credentials, so it is let through to be answered).
async fn basic_auth(State(expected): State<Arc<String>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()));
    if ok || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "This locusta web UI needs a user name and password (--web-auth).\n",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"locusta\", charset=\"UTF-8\""),
    );
    r
}

/// Compares without an early exit, so timing does not tell how much of a password was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn routes(base: &str, read_only: bool) -> Router<Arc<App>> {
    let at = |path: &str| format!("{base}{path}");
    let mut r = Router::new()
        .route(&at("/stats/requests"), get(api::stats_requests))
        .route(&at("/stats/requests/csv"), get(downloads::requests_csv))
        .route(
            &at("/stats/requests_full_history/csv"),
            get(downloads::full_history_csv),
        )
        .route(&at("/stats/failures/csv"), get(downloads::failures_csv))
        .route(&at("/exceptions/csv"), get(downloads::exceptions_csv))
        .route(&at("/stats/report"), get(downloads::report))
        .route(&at("/exceptions"), get(api::exceptions))
        .route(&at("/tasks"), get(api::tasks))
        .route(&at("/logs"), get(api::logs))
        .route(&at("/worker-count"), get(api::worker_count))
        .route(&at("/metrics"), get(api::metrics))
        .route(&at("/charts"), get(api::charts))
        .route(&at("/state"), get(api::state));
    if !read_only {
        r = r
            .route(&at("/"), get(page::index))
            .route(&at("/swarm"), post(api::swarm))
            // GET as well: Locust accepted it before 2.47, and scripts still send it.
            .route(&at("/stop"), post(api::stop).get(api::stop))
            .route(&at("/stats/reset"), post(api::reset).get(api::reset));
        if !base.is_empty() {
            let to = format!("{base}/");
            r = r.route(
                base,
                get(move || async move {
                    (
                        StatusCode::PERMANENT_REDIRECT,
                        [(header::LOCATION, to.clone())],
                    )
                        .into_response()
                }),
            );
        }
    }
    r.fallback(not_found)
}

/// The address to listen on: `--web-host` as an IP address, or a name resolved once.
fn listen_address(options: &WebOptions) -> Result<SocketAddr, String> {
    if let Ok(ip) = options.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, options.port));
    }
    use std::net::ToSocketAddrs;
    (options.host.as_str(), options.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("argument --web-host: cannot resolve '{}'", options.host))
}

/// Binds the web UI's port (a failure is the caller's one-line error) and serves on a thread
/// of its own until the returned server is dropped.
pub fn start(options: &WebOptions, live: Live) -> Result<WebServer, String> {
    let address = listen_address(options)?;
    let listener = TcpListener::bind(address)
        .map_err(|e| format!("cannot start the web UI on {address}: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot start the web UI on {address}: {e}"))?;
    let read_only = options.mode == WebMode::ReadOnly;
    let app = Arc::new(App {
        live,
        rendered: Default::default(),
    });
    let mut router = routes(&options.base_path, read_only).with_state(app);
    if let Some((user, password)) = &options.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let expected = Arc::new(format!("Basic {token}"));
        router = router.layer(middleware::from_fn_with_state(expected, basic_auth));
    }
    // Outermost, so the preflight and the 401 carry CORS headers too.
    let router = router.layer(middleware::from_fn(cors));
    let handle = axum_server::Handle::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the web UI: {e}"))?;
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let tls_files = options.tls.clone();
    let server_handle = handle.clone();
    // The thread reports whether it could load the certificate before it serves: the caller
    // may be inside the engine's runtime, where nothing may block on another runtime.
    let (ready, is_ready) = std::sync::mpsc::channel::<Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name("locusta-web".into())
        .spawn(move || {
            runtime.block_on(async move {
                let tls = match tls_files {
                    Some((cert, key)) => {
                        match axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                            .await
                        {
                            Ok(config) => Some(config),
                            Err(e) => {
                                let _ = ready.send(Err(format!(
                                    "cannot use --tls-cert {} and --tls-key {}: {e}",
                                    cert.display(),
                                    key.display()
                                )));
                                return;
                            }
                        }
                    }
                    None => None,
                };
                let _ = ready.send(Ok(()));
                let service = router.into_make_service();
                let served = match tls {
                    Some(config) => match axum_server::from_tcp_rustls(listener, config) {
                        Ok(s) => s.handle(server_handle).serve(service).await,
                        Err(e) => Err(e),
                    },
                    None => match axum_server::from_tcp(listener) {
                        Ok(s) => s.handle(server_handle).serve(service).await,
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = served {
                    tracing::error!(target: "locusta.web", "the web UI stopped: {e}");
                }
            });
        })
        .map_err(|e| format!("cannot start the web UI: {e}"))?;
    match is_ready.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("cannot start the web UI: its thread ended".to_string()),
    }
    info!(
        target: "locusta.main",
        "Starting web interface at {scheme}://{address}{}",
        options.base_path
    );
    Ok(WebServer {
        handle,
        thread: Some(thread),
        address,
    })
}

/// [`start`] as the run layer takes it.
pub fn start_boxed(
    options: &WebOptions,
    live: Live,
) -> Result<Box<dyn std::any::Any + Send>, String> {
    start(options, live).map(|s| Box::new(s) as Box<dyn std::any::Any + Send>)
}
