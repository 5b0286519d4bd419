//! `ws:` and `sse:` steps as the engine runs them: where to connect, the rows they write, and
//! the steps on the open stream.

use std::time::Duration;

use http::Method;

use super::{Capture, Checks, Credentials, Header, JsonTemplate, Origin, Template, WaitTime};

/// The longest a connection and handshake (WebSocket) or the response's headers (SSE) may take
/// when the step says nothing: long enough for a loaded server, short enough that a dead one
/// is a failure within one think time of a guide's users.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest silence while a step waits for messages, when the step says nothing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an `expect` or a `ping` waits when the step says nothing (Artillery's 10 s).
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(10);

/// How long a `hold` with `messages` or `until` but no `for` keeps receiving at most.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(60);

/// Where a stream connects, and how.
#[derive(Debug)]
pub struct Target {
    /// A path (joined to the host) or an absolute URL.
    pub url: Template,
    pub absolute: bool,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<Header>,
    pub auth: Option<Credentials>,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// The longest the whole step may take.
    pub timeout: Option<Duration>,
    pub origin: Origin,
}

/// The rows a stream writes, by their Name column (Type is `WS`/`WSR` or `SSE`/`SSER`).
#[derive(Debug)]
pub struct Rows {
    /// Connects (`WS`/`SSE`), and each message received (`WSR`/`SSER`: the gap before it).
    pub name: String,
    /// Each connection's life, open to close.
    pub session: String,
    /// (SSE) From the request to the first event of each connection.
    pub first_event: String,
}

#[derive(Debug)]
pub struct WsSpec {
    pub target: Target,
    pub rows: Rows,
    /// The named connection this step opens or goes on with (an index into the user's).
    pub id: Option<usize>,
    pub subprotocols: Vec<String>,
    pub steps: Vec<StreamStep>,
}

#[derive(Debug)]
pub struct SseSpec {
    pub target: Target,
    pub rows: Rows,
    pub method: Method,
    pub body: Option<SendBody>,
    pub reconnect: u32,
    pub steps: Vec<StreamStep>,
}

/// A message (or a request body) to send.
#[derive(Debug)]
pub enum SendBody {
    Text(Template),
    Json(JsonTemplate),
}

/// Which messages a step looks for: an SSE event type, and checks on the text.
#[derive(Debug, Default)]
pub struct Matcher {
    pub event: Option<String>,
    pub checks: Checks,
    /// How the match reads in a failure: `{"$.type": "ack"}`.
    pub shown: String,
}

#[derive(Debug)]
pub struct ExpectSpec {
    /// Its row (`WS`/`SSE`, this Name): from the last send (or the connect) to the match.
    pub row: String,
    pub matcher: Matcher,
    pub within: Duration,
    pub max_time: Option<Duration>,
    pub check: Option<Matcher>,
    pub captures: Vec<Capture>,
}

#[derive(Debug)]
pub struct CountSpec {
    pub row: String,
    pub matcher: Matcher,
    pub min: Option<u64>,
}

#[derive(Debug)]
pub struct HoldSpec {
    pub duration: Duration,
    pub messages: Option<u64>,
    pub until: Option<Matcher>,
    pub count: Option<CountSpec>,
}

#[derive(Debug)]
pub enum StreamStep {
    Send(SendBody),
    Expect(ExpectSpec),
    Hold(HoldSpec),
    Ping { row: String, within: Duration },
    Close { code: u16, reason: String },
    Wait(WaitTime),
}

impl Target {
    fn templates(&self) -> Vec<&Template> {
        let mut out = vec![&self.url];
        out.extend(self.query.iter().map(|(_, t)| t));
        out.extend(self.headers.iter().map(|h| &h.value));
        match self.auth.as_ref().map(|c| &c.auth) {
            Some(super::Auth::Basic(u, p)) => out.extend([u, p]),
            Some(super::Auth::Bearer(t)) => out.push(t),
            None => {}
        }
        out
    }
}

fn step_templates<'a>(steps: &'a [StreamStep], out: &mut Vec<&'a Template>) {
    for s in steps {
        if let StreamStep::Send(body) = s {
            body.templates(out);
        }
    }
}

impl SendBody {
    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            SendBody::Text(t) => out.push(t),
            SendBody::Json(j) => j.templates(out),
        }
    }
}

/// What `compile` needs of a stream step to check its variables: the templates it renders and
/// the captures it makes.
pub trait StreamSpec {
    fn target(&self) -> &Target;
    fn steps(&self) -> &[StreamStep];
    fn extra_templates(&self) -> Vec<&Template> {
        Vec::new()
    }

    fn templates(&self) -> Vec<&Template> {
        let mut out = self.target().templates();
        out.extend(self.extra_templates());
        step_templates(self.steps(), &mut out);
        out
    }

    fn captures(&self) -> Vec<&Capture> {
        self.steps()
            .iter()
            .filter_map(|s| match s {
                StreamStep::Expect(e) => Some(&e.captures),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

impl StreamSpec for WsSpec {
    fn target(&self) -> &Target {
        &self.target
    }
    fn steps(&self) -> &[StreamStep] {
        &self.steps
    }
}

impl StreamSpec for SseSpec {
    fn target(&self) -> &Target {
        &self.target
    }
    fn steps(&self) -> &[StreamStep] {
        &self.steps
    }
    fn extra_templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        if let Some(b) = &self.body {
            b.templates(&mut out);
        }
        out
    }
}
