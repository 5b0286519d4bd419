//! One virtual user: `on_start`, then weighted tasks with waits until told to stop, then
//! `on_stop`. Each user is a tokio task with its own cookies, captured values, feeder rows and
//! random source.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use cookie_store::CookieStore;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use rand::RngExt;
use rand::rngs::SmallRng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::http::{HttpClient, MultipartPart, Prepared, PreparedBody};
use super::iterations::IterationLimit;
use super::timer::Timer;
use super::wait::{Pacer, next_wait};
use super::{capture, checks};
use crate::scenario::plan::{Node, UserPlan};
use crate::scenario::{
    Auth, Body, Credentials, FeederScope, Header, Origin, Part, RenderEnv, RenderError,
    RequestSpec, Scenario, Variables,
};
use crate::stats::{RequestSample, Stats, unix_now};

/// A user error is logged this many times; after that it is only counted, so a scenario bug
/// hit by every user every second cannot bury the console.
const LOGGED_EXCEPTIONS: u64 = 5;

/// What every user of a run shares.
pub struct RunContext {
    pub scenario: Arc<Scenario>,
    /// Per user type (by index): what it runs, after tag filtering.
    pub plans: Vec<UserPlan>,
    /// Per user type: the base URL for relative paths (`-H` > the type's host > the file's).
    pub hosts: Vec<Option<String>>,
    /// Per user type: the URL of each request whose URL has no template, parsed once (by the
    /// request's address). Parsing took a tenth of the CPU of a no-wait run.
    pub static_urls: Vec<HashMap<usize, Url>>,
    pub client: HttpClient,
    /// WebSockets, with the same TLS trust as `client`.
    pub ws: super::ws::WsClient,
    pub stats: Arc<Stats>,
    /// `-i`: the task runs left to all users.
    pub iterations: Option<IterationLimit>,
    /// The users' waits (`wait_time`, `wait` steps).
    pub timer: Timer,
}

pub struct VirtualUser {
    pub id: u64,
    pub user_type: usize,
    rng: SmallRng,
    vars: Variables,
    cookies: CookieStore,
    pacer: Pacer,
    /// Tasks started so far (`{{ iteration }}`).
    iteration: u64,
    /// The row this user holds of each data feeder.
    rows: Vec<Option<usize>>,
    /// Its named WebSocket connections (`id:`), by the scenario's index of the name.
    streams: Vec<Option<Box<super::stream::Open>>>,
}

mod streams;

/// Why a step did not complete: the rest of the task (or flow) is skipped.
struct StepAborted;

/// The URL a request goes to: an absolute one as written, a path appended to the host as
/// Locust appends it (so a host with a path keeps it).
pub fn request_url(host: Option<&str>, absolute: bool, rendered: &str) -> Result<Url, String> {
    if absolute {
        Url::parse(rendered)
    } else {
        let host = host.unwrap_or_default();
        let base = if rendered.starts_with('/') {
            host.trim_end_matches('/')
        } else {
            host
        };
        Url::parse(&format!("{base}{rendered}"))
    }
    .map_err(|e| format!("`{rendered}` does not make a valid URL: {e}"))
}

/// A step's headers and credentials, rendered; an inherited one whose values are not captured
/// yet is left out (the login that captures the token must still go).
fn render_headers(
    env: &mut RenderEnv<'_>,
    own: &[Header],
    auth: Option<&Credentials>,
) -> Result<HeaderMap, String> {
    let text = |e: RenderError| e.to_string();
    let mut headers = HeaderMap::with_capacity(own.len() + 2);
    for h in own {
        let value = match h.value.render(env) {
            Ok(v) => v,
            // A user-wide header waits for the values it reads (a token from the login).
            Err(RenderError::Unset(_)) if h.inherited => continue,
            Err(e) => return Err(text(e)),
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("header `{}`: `{value}` is not a valid header value", h.name))?;
        headers.insert(h.name.clone(), value);
    }
    if let Some(credentials) = &auth {
        let value = match &credentials.auth {
            Auth::Basic(user, password) => user
                .render(env)
                .and_then(|u| Ok(format!("{u}:{}", password.render(env)?)))
                .map(|pair| format!("Basic {}", BASE64.encode(pair))),
            Auth::Bearer(token) => token.render(env).map(|t| format!("Bearer {t}")),
        };
        match value {
            Ok(value) => {
                let value = HeaderValue::from_str(&value)
                    .map_err(|_| "auth: the credentials are not valid header text".to_string())?;
                headers.insert(AUTHORIZATION, value);
            }
            Err(RenderError::Unset(_)) if credentials.inherited => {}
            Err(e) => return Err(text(e)),
        }
    }
    Ok(headers)
}

/// Waits `d`. A zero wait only yields to the other users: it does not need a timer.
async fn pause(timer: &Timer, d: Duration) {
    if d.is_zero() {
        tokio::task::yield_now().await;
    } else {
        timer.sleep(d).await;
    }
}

impl VirtualUser {
    pub fn new(id: u64, user_type: usize, rng: SmallRng, feeders: usize) -> Self {
        VirtualUser {
            id,
            user_type,
            rng,
            vars: Variables::default(),
            cookies: CookieStore::default(),
            pacer: Pacer::new(Instant::now()),
            iteration: 0,
            rows: vec![None; feeders],
            streams: Vec::new(),
        }
    }

    /// Runs until `stop` (finish the current task, then leave) or `kill` (leave now); either
    /// way `on_stop` runs afterwards, as Locust runs it when a user is stopped.
    pub async fn run(
        mut self,
        ctx: Arc<RunContext>,
        stop: CancellationToken,
        kill: CancellationToken,
    ) {
        let plan = &ctx.plans[self.user_type];
        let started = tokio::select! {
            biased;
            _ = kill.cancelled() => false,
            _ = self.run_sequence(&ctx, &plan.on_start) => true,
        };
        if started {
            tokio::select! {
                biased;
                _ = kill.cancelled() => {}
                _ = self.task_loop(&ctx, &stop) => {}
            }
        }
        let _ = self.run_sequence(&ctx, &plan.on_stop).await;
        if !self.streams.is_empty() {
            // Boxed, as every stream's future is: a user without streams does not carry it.
            Box::pin(self.close_streams()).await;
        }
    }

    async fn task_loop(&mut self, ctx: &RunContext, stop: &CancellationToken) {
        let wait_time = ctx.scenario.user_types[self.user_type].wait_time;
        let plan = &ctx.plans[self.user_type];
        loop {
            if stop.is_cancelled() {
                return;
            }
            if let Some(limit) = &ctx.iterations
                && !limit.claim()
            {
                return;
            }
            if let Some(task) = plan.tasks.pick(&mut self.rng) {
                self.start_iteration(ctx);
                let _ = self.run_node(ctx, task).await;
            }
            let wait = next_wait(&wait_time, &mut self.rng, &mut self.pacer, Instant::now());
            if wait.is_zero() {
                // Without a wait, `stop` is seen at the top of the loop; a cancellation
                // future per task cost 1.4% of a no-wait run's CPU (perf).
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = pause(&ctx.timer, wait) => {}
            }
        }
    }

    /// A new task: count it, and let go of rows held per iteration.
    fn start_iteration(&mut self, ctx: &RunContext) {
        self.iteration += 1;
        for (row, feeder) in self.rows.iter_mut().zip(&ctx.scenario.feeders) {
            if feeder.per == FeederScope::Iteration {
                *row = None;
            }
        }
    }

    async fn run_sequence(&mut self, ctx: &RunContext, nodes: &[Node]) -> Result<(), StepAborted> {
        for node in nodes {
            self.run_node(ctx, node).await?;
        }
        Ok(())
    }

    /// Runs one node. Requests, the common case, run inline; nested structure goes through a
    /// boxed future, which recursion in async code needs.
    async fn run_node(&mut self, ctx: &RunContext, node: &Node) -> Result<(), StepAborted> {
        match node {
            Node::Request(spec) => self.request(ctx, spec).await,
            // Boxed: a stream's state is needed only while it runs (see `request`).
            Node::Ws(spec) => Box::pin(self.ws(ctx, spec)).await,
            Node::Sse(spec) => Box::pin(self.sse(ctx, spec)).await,
            Node::Wait(w) => {
                let d = next_wait(w, &mut self.rng, &mut self.pacer, Instant::now());
                pause(&ctx.timer, d).await;
                Ok(())
            }
            Node::Flow(nodes) => Box::pin(self.run_sequence(ctx, nodes)).await,
            Node::Choice(choices) => match choices.pick(&mut self.rng) {
                Some(n) => Box::pin(self.run_node(ctx, n)).await,
                None => Ok(()),
            },
            Node::Repeat { min, max, node } => {
                let times = self.rng.random_range(*min..=*max);
                for _ in 0..times {
                    Box::pin(self.run_node(ctx, node)).await?;
                }
                Ok(())
            }
        }
    }

    async fn request(&mut self, ctx: &RunContext, spec: &RequestSpec) -> Result<(), StepAborted> {
        let prepared = match self.prepare(ctx, spec) {
            Ok(p) => p,
            Err(message) => {
                let label = format!("{} {}", spec.method, spec.name);
                self.user_error(ctx, &spec.origin, &label, &message);
                return Err(StepAborted);
            }
        };
        // Boxed: only a request in flight needs the exchange's state (3 KB of the client's
        // futures), and an unboxed one sized every waiting user's task for it.
        let exchange = Box::pin(ctx.client.send(prepared, &mut self.cookies)).await;
        let timestamp = unix_now();
        let (content_length, error) = match &exchange.result {
            Err(e) => (exchange.partial_len, Some(e.0.clone())),
            Ok(resp) => {
                let failed = checks::failure(
                    &spec.checks,
                    resp.status,
                    &resp.body,
                    exchange.elapsed,
                    &spec.name,
                );
                let capture_miss = capture::apply(
                    &spec.captures,
                    &resp.into(),
                    &self.cookies,
                    &mut self.vars,
                    &mut self.rng,
                )
                .err()
                .map(|why| crate::pyfmt::exception("CatchResponseError", &why));
                (resp.body_len, failed.or(capture_miss))
            }
        };
        ctx.stats.record(&RequestSample {
            method: spec.method.as_str(),
            name: &spec.name,
            response_time_ms: exchange.elapsed.as_secs_f64() * 1000.0,
            content_length,
            error: error.as_deref(),
            timestamp,
        });
        Ok(())
    }

    fn prepare(&mut self, ctx: &RunContext, spec: &RequestSpec) -> Result<Prepared, String> {
        let text = |e: RenderError| e.to_string();
        let mut env = RenderEnv {
            vars: &self.vars,
            user_id: self.id,
            iteration: self.iteration,
            rng: &mut self.rng,
            feeders: &ctx.scenario.feeders,
            rows: &mut self.rows,
        };
        let static_url = ctx.static_urls[self.user_type].get(&(std::ptr::from_ref(spec) as usize));
        let mut url = match static_url {
            Some(url) => url.clone(),
            None => {
                let rendered = spec.url.render(&mut env).map_err(text)?;
                request_url(
                    ctx.hosts[self.user_type].as_deref(),
                    spec.absolute,
                    &rendered,
                )?
            }
        };
        if !spec.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, t) in &spec.query {
                pairs.append_pair(k, &t.render(&mut env).map_err(text)?);
            }
        }
        let mut headers = render_headers(&mut env, &spec.headers, spec.auth.as_ref())?;
        let (body, content_type) = match &spec.body {
            Body::None => (PreparedBody::None, None),
            Body::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (k, t) in fields {
                    form.append_pair(k, &t.render(&mut env).map_err(text)?);
                }
                (
                    PreparedBody::Bytes(Bytes::from(form.finish())),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Body::Json(j) => {
                let value = j.render(&mut env).map_err(text)?;
                (
                    PreparedBody::Bytes(Bytes::from(value.to_string())),
                    Some("application/json"),
                )
            }
            Body::Raw(t) => (
                PreparedBody::Bytes(Bytes::from(t.render(&mut env).map_err(text)?)),
                None,
            ),
            Body::File(bytes) => (PreparedBody::Bytes(bytes.clone()), None),
            Body::Multipart(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for (name, part) in parts {
                    let p = match part {
                        Part::Text(t) => MultipartPart::Text(t.render(&mut env).map_err(text)?),
                        Part::File {
                            bytes,
                            filename,
                            content_type,
                        } => MultipartPart::File {
                            bytes: bytes.clone(),
                            filename: filename.clone(),
                            content_type: content_type.clone(),
                        },
                    };
                    out.push((name.clone(), p));
                }
                (PreparedBody::Multipart(out), None)
            }
        };
        if let Some(ct) = content_type
            && !headers.contains_key(CONTENT_TYPE)
        {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        Ok(Prepared {
            method: spec.method.clone(),
            url,
            headers,
            body,
            timeout: spec.timeout,
            follow_redirects: spec.follow_redirects,
            keep_body: spec.keep_body,
        })
    }

    /// Records an error of the scenario itself (Locust's "exceptions"), located in the file.
    fn user_error(&self, ctx: &RunContext, origin: &Origin, label: &str, message: &str) {
        let user = &ctx.scenario.user_types[self.user_type].name;
        let traceback = format!(
            "  File \"{}\", line {}, in {}\n    {label} (user {user})\n",
            origin.file, origin.pos.line, origin.path
        );
        if ctx.stats.record_exception(message, &traceback) <= LOGGED_EXCEPTIONS {
            tracing::error!(target: "locusta.user.task", "{message}\n{traceback}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a waiting user costs besides its cookies and captured values: its task's future
    /// (sized for its largest await, so an exchange inline in it would count for every waiting
    /// user: 3.8 KB with it, under 1 KB boxed) and the user itself.
    #[test]
    fn a_waiting_user_is_small() {
        let stats = Arc::new(crate::stats::Stats::new(1, 0.0));
        let (_, runner) = crate::engine::runner::tests::runner_recording_into(stats);
        let ctx = runner.ctx.clone();
        let user = VirtualUser::new(1, 0, rand::make_rng::<SmallRng>(), 0);
        assert!(
            size_of::<VirtualUser>() <= 256,
            "{}",
            size_of::<VirtualUser>()
        );
        let stop = CancellationToken::new();
        let task = user.run(ctx, stop.clone(), stop);
        assert!(
            size_of_val(&task) <= 1024,
            "a user's task: {} bytes",
            size_of_val(&task)
        );
    }
}
