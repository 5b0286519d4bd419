//! `locusta demo`: a target that behaves like the CisTrade Django app of the benchmarking guide,
//! so the shipped scenario runs out of the box and the tests have something realistic to load.
//!
//! It keeps Django's habits that scenarios must cope with: a `csrftoken` cookie and a
//! `csrfmiddlewaretoken` form field checked on every POST, a `sessionid` cookie set by a login
//! that answers `302`, a redirect to the login page without a session, a failed login that
//! answers `200` with the form again, role checks (only makers create portfolios, only admins
//! edit custom fields), and per-endpoint latency (lists tens of ms, exports hundreds).

mod data;
mod pages;
mod routes;
mod stream;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use rand::RngExt;
use tokio::net::TcpListener;

pub use data::Data;

use crate::cli::DemoArgs;
use crate::report::console::to_stderr;

/// The password every demo user has.
pub const PASSWORD: &str = "demo";

/// Sessions kept before the oldest are forgotten, so a long soak cannot grow the server.
const MAX_SESSIONS: usize = 100_000;
/// Portfolios created through the API that stay retrievable.
const MAX_CREATED: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `trader*` and `maker*` users: may create portfolios.
    Maker,
    /// `admin*` users: may edit custom fields.
    Admin,
    /// `power*` users: makers and admins at once (the guide's MixedUser).
    Power,
    /// `ops*` users.
    Operations,
    /// Everyone else (managers): read only.
    Viewer,
}

impl Role {
    fn of(username: &str) -> Role {
        let u = username.to_ascii_lowercase();
        if u.starts_with("trader") || u.starts_with("maker") {
            Role::Maker
        } else if u.starts_with("admin") {
            Role::Admin
        } else if u.starts_with("power") {
            Role::Power
        } else if u.starts_with("ops") {
            Role::Operations
        } else {
            Role::Viewer
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub role: Role,
}

impl Session {
    pub fn may_create_portfolios(&self) -> bool {
        matches!(self.role, Role::Maker | Role::Power)
    }

    pub fn may_edit_custom_fields(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Power)
    }
}

/// How long each kind of endpoint takes before answering, in milliseconds at scale 1.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    Login = 8,
    List = 30,
    Detail = 12,
    Search = 60,
    Export = 300,
    Write = 90,
    Dashboard = 45,
    Audit = 70,
}

pub struct App {
    pub data: Data,
    latency_scale: f64,
    /// `--delay`: extra time for paths under a prefix.
    delays: Vec<(String, Duration)>,
    sessions: Mutex<HashMap<String, Session>>,
    pub created: Mutex<VecDeque<data::Portfolio>>,
    pub udf_descriptions: Mutex<HashMap<u32, String>>,
    /// The latest actions (logins, creations, edits), newest first.
    pub activity: Mutex<VecDeque<String>>,
    /// What the WebSocket feed has sent, for `/ws/stats`.
    pub feed: stream::FeedCounters,
}

pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}={value}; Path=/; SameSite=Lax"))
        .expect("token is a valid header value")
}

/// A request without a session: answered with a redirect to the login page.
pub struct LoginRequired(String);

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        redirect(&self.0)
    }
}

pub fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

impl App {
    pub fn new(seed: u64, latency_scale: f64) -> App {
        App {
            data: Data::generate(seed),
            latency_scale,
            delays: Vec::new(),
            sessions: Mutex::new(HashMap::new()),
            created: Mutex::new(VecDeque::new()),
            udf_descriptions: Mutex::new(HashMap::new()),
            activity: Mutex::new(VecDeque::new()),
            feed: stream::FeedCounters::default(),
        }
    }

    /// Waits as long as this kind of endpoint takes, with ±25% jitter.
    pub async fn latency(&self, kind: Latency) {
        if self.latency_scale <= 0.0 {
            return;
        }
        let jitter = rand::rng().random_range(0.75..1.25);
        let ms = kind as u64 as f64 * self.latency_scale * jitter;
        // The scale is bounded where it is read; a bad one waits the longest span, not panics.
        let wait = crate::limits::seconds(ms / 1000.0).unwrap_or(crate::limits::MAX_DURATION);
        tokio::time::sleep(wait).await;
    }

    /// The injected delay for `path`: the longest matching prefix's.
    pub fn delay_for(&self, path: &str) -> Option<Duration> {
        self.delays
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, d)| *d)
    }

    /// The session of the request, or the redirect Django's `login_required` answers with.
    pub fn session(&self, headers: &HeaderMap, uri: &Uri) -> Result<Session, LoginRequired> {
        cookie(headers, "sessionid")
            .and_then(|id| self.sessions.lock().get(&id).cloned())
            .ok_or_else(|| LoginRequired(format!("/login/?next={}", uri.path())))
    }

    pub fn login(&self, username: &str) -> String {
        let id = random_token(32);
        let mut sessions = self.sessions.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.clear();
        }
        sessions.insert(
            id.clone(),
            Session {
                username: username.to_string(),
                role: Role::of(username),
            },
        );
        drop(sessions);
        self.record(format!("LOGIN {username}"));
        id
    }

    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, "sessionid") {
            self.sessions.lock().remove(&id);
        }
    }

    pub fn record(&self, event: String) {
        let mut a = self.activity.lock();
        a.push_front(event);
        a.truncate(50);
    }

    pub fn remember_created(&self, p: data::Portfolio) {
        let mut c = self.created.lock();
        c.push_back(p);
        while c.len() > MAX_CREATED {
            c.pop_front();
        }
    }

    pub fn created_portfolio(&self, id: u32) -> Option<data::Portfolio> {
        self.created.lock().iter().find(|p| p.id == id).cloned()
    }

    pub fn next_portfolio_id(&self) -> u32 {
        let c = self.created.lock();
        c.back().map_or(data::PORTFOLIOS + 1, |p| p.id + 1)
    }

    pub fn udf_description(&self, id: u32) -> Option<String> {
        self.udf_descriptions.lock().get(&id).cloned()
    }

    pub fn set_udf_description(&self, id: u32, text: String) {
        self.udf_descriptions.lock().insert(id, text);
    }

    pub fn recent_activity(&self) -> Vec<String> {
        self.activity.lock().iter().cloned().collect()
    }
}

/// Serves the demo app on `listener` until the future is dropped or the process ends.
pub async fn serve(listener: TcpListener, app: Arc<App>) -> std::io::Result<()> {
    axum::serve(listener, routes::router(app)).await
}

/// Starts the demo app on a background task (for tests and embedding); returns its address.
pub async fn spawn(bind: &str, latency_scale: f64) -> std::io::Result<SocketAddr> {
    spawn_with_delays(bind, latency_scale, Vec::new()).await
}

/// [`spawn`], with `--delay`'s extra time on some paths.
pub async fn spawn_with_delays(
    bind: &str,
    latency_scale: f64,
    delays: Vec<(String, Duration)>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = Arc::new(App {
        delays,
        ..App::new(42, latency_scale)
    });
    tokio::spawn(serve(listener, app));
    Ok(addr)
}

/// `locusta demo`: runs until Ctrl-C. Returns the process exit code.
pub fn run(args: &DemoArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            to_stderr(&format!("locusta: error: cannot start the runtime: {e}\n"));
            return 1;
        }
    };
    runtime.block_on(async {
        let addr = format!("{}:{}", args.bind, args.port);
        let listener = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                to_stderr(&format!("locusta: error: cannot listen on {addr}: {e}\n"));
                return 1;
            }
        };
        let app = Arc::new(App {
            delays: args.delays.clone(),
            ..App::new(args.seed, args.latency_scale)
        });
        to_stderr(&format!(
            "locusta demo: CisTrade-like target on http://{addr} ({} portfolios, {} counterparties, latency x{}); \
             log in as traderN/adminN/opsN/managerN/powerN with password `{PASSWORD}`. Ctrl-C to stop.\n",
            data::PORTFOLIOS,
            data::COUNTERPARTIES,
            args.latency_scale
        ));
        tokio::select! {
            r = serve(listener, app) => match r {
                Ok(()) => 0,
                Err(e) => {
                    to_stderr(&format!("locusta: error: demo server failed: {e}\n"));
                    1
                }
            },
            _ = shutdown_signal() => 0,
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
