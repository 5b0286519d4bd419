//! One virtual user: `on_start`, then weighted tasks with waits until told to stop, then
//! `on_stop`. Each user is a tokio task with its own cookies, captured values and random source.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cookie_store::CookieStore;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use rand::rngs::SmallRng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::capture;
use super::http::{HttpClient, Prepared, Response};
use super::tasks::TaskTable;
use super::wait::{Pacer, next_wait};
use crate::pyfmt;
use crate::scenario::{
    Body, RenderEnv, RequestSpec, Scenario, Step, TaskAction, UnsetVariable, Variables,
};
use crate::stats::{RequestSample, Stats, unix_now};

/// A user error is logged this many times; after that it is only counted, so a scenario bug
/// hit by every user every second cannot bury the console.
const LOGGED_EXCEPTIONS: u64 = 5;

/// What every user of a run shares.
pub struct RunContext {
    pub scenario: Arc<Scenario>,
    /// Per user type (by index): the tasks it picks from, after tag filtering.
    pub tables: Vec<TaskTable>,
    /// Per user type: the base URL for relative paths (`-H` > the type's host > the file's).
    pub hosts: Vec<Option<String>>,
    pub client: HttpClient,
    pub stats: Arc<Stats>,
    pub default_timeout: Duration,
}

pub struct VirtualUser {
    pub id: u64,
    pub user_type: usize,
    rng: SmallRng,
    vars: Variables,
    cookies: CookieStore,
    pacer: Pacer,
}

/// Why a step did not complete: the rest of the task (or flow) is skipped.
struct StepAborted;

impl VirtualUser {
    pub fn new(id: u64, user_type: usize, rng: SmallRng) -> Self {
        VirtualUser {
            id,
            user_type,
            rng,
            vars: Variables::default(),
            cookies: CookieStore::default(),
            pacer: Pacer::new(Instant::now()),
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
        let user_type = &ctx.scenario.user_types[self.user_type];
        let started = tokio::select! {
            biased;
            _ = kill.cancelled() => false,
            _ = self.run_steps(&ctx, &user_type.on_start) => true,
        };
        if started {
            tokio::select! {
                biased;
                _ = kill.cancelled() => {}
                _ = self.task_loop(&ctx, &stop) => {}
            }
        }
        let _ = self.run_steps(&ctx, &user_type.on_stop).await;
    }

    async fn task_loop(&mut self, ctx: &RunContext, stop: &CancellationToken) {
        let wait_time = ctx.scenario.user_types[self.user_type].wait_time;
        let table = &ctx.tables[self.user_type];
        loop {
            if stop.is_cancelled() {
                return;
            }
            if let Some((user, task)) = table.pick(&mut self.rng)
                && let TaskAction::Steps(steps) = &ctx.scenario.user_types[user].tasks[task].action
            {
                let _ = self.run_steps(ctx, steps).await;
            }
            let wait = next_wait(&wait_time, &mut self.rng, &mut self.pacer, Instant::now());
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn run_steps(&mut self, ctx: &RunContext, steps: &[Step]) -> Result<(), StepAborted> {
        for step in steps {
            match step {
                Step::Request(spec) => self.request(ctx, spec).await?,
            }
        }
        Ok(())
    }

    async fn request(&mut self, ctx: &RunContext, spec: &RequestSpec) -> Result<(), StepAborted> {
        let prepared = match self.prepare(ctx, spec) {
            Ok(p) => p,
            Err(message) => {
                self.user_error(ctx, spec, &message);
                return Err(StepAborted);
            }
        };
        let exchange = ctx.client.send(prepared, &mut self.cookies).await;
        let timestamp = unix_now();
        let (content_length, error) = match &exchange.result {
            Err(e) => (exchange.partial_len, Some(e.0.clone())),
            Ok(resp) => {
                let status_error = status_error(spec, resp);
                let capture_miss =
                    capture::apply(&spec.captures, resp, &self.cookies, &mut self.vars)
                        .err()
                        .map(|why| pyfmt::exception("CatchResponseError", &why));
                (resp.body_len, status_error.or(capture_miss))
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
        let unset = |UnsetVariable(name): UnsetVariable| {
            format!(
                "`{{{{ {name} }}}}` has no value yet: the step that captures it has not succeeded for this user"
            )
        };
        let mut env = RenderEnv {
            vars: &self.vars,
            user_id: self.id,
            rng: &mut self.rng,
        };
        let rendered = spec.url.render(&mut env).map_err(unset)?;
        let mut url = if spec.absolute {
            Url::parse(&rendered)
        } else {
            let host = ctx.hosts[self.user_type].as_deref().unwrap_or_default();
            let base = if rendered.starts_with('/') {
                host.trim_end_matches('/')
            } else {
                host
            };
            Url::parse(&format!("{base}{rendered}"))
        }
        .map_err(|e| format!("`{rendered}` does not make a valid URL: {e}"))?;
        if !spec.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, t) in &spec.query {
                pairs.append_pair(k, &t.render(&mut env).map_err(unset)?);
            }
        }
        let mut headers = HeaderMap::with_capacity(spec.headers.len() + 1);
        for (name, t) in &spec.headers {
            let value = t.render(&mut env).map_err(unset)?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header `{name}`: `{value}` is not a valid header value"))?;
            headers.insert(name.clone(), value);
        }
        let (body, content_type) = match &spec.body {
            Body::None => (None, None),
            Body::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (k, t) in fields {
                    form.append_pair(k, &t.render(&mut env).map_err(unset)?);
                }
                (
                    Some(Bytes::from(form.finish())),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Body::Json(j) => {
                let value = j.render(&mut env).map_err(unset)?;
                (
                    Some(Bytes::from(value.to_string())),
                    Some("application/json"),
                )
            }
            Body::Raw(t) => (Some(Bytes::from(t.render(&mut env).map_err(unset)?)), None),
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
            timeout: spec.timeout.unwrap_or(ctx.default_timeout),
            keep_body: capture::needs_body(&spec.captures),
        })
    }

    /// Records an error of the scenario itself (Locust's "exceptions"), located in the file.
    fn user_error(&self, ctx: &RunContext, spec: &RequestSpec, message: &str) {
        let user = &ctx.scenario.user_types[self.user_type].name;
        let traceback = format!(
            "  File \"{}\", line {}, in {}\n    {} {} (user {user})\n",
            spec.origin.file, spec.origin.pos.line, spec.origin.path, spec.method, spec.name
        );
        if ctx.stats.record_exception(message, &traceback) <= LOGGED_EXCEPTIONS {
            tracing::error!(target: "locusta.user.task", "{message}\n{traceback}");
        }
    }
}

/// Locust's rule: 400-599 fails with requests' `HTTPError` text (naming the request by its
/// statistics name, as Locust does). With `expect.status`, only the listed statuses pass.
fn status_error(spec: &RequestSpec, resp: &Response) -> Option<String> {
    let code = resp.status.as_u16();
    match &spec.expect_status {
        Some(expected) if expected.contains(&code) => None,
        Some(expected) => {
            let wanted: Vec<String> = expected.iter().map(u16::to_string).collect();
            Some(pyfmt::exception(
                "CatchResponseError",
                &format!("expected status {}, got {code}", wanted.join(" or ")),
            ))
        }
        None if (400..600).contains(&code) => Some(http_error(resp.status, &spec.name)),
        None => None,
    }
}

fn http_error(status: StatusCode, name: &str) -> String {
    let kind = if status.is_client_error() {
        "Client"
    } else {
        "Server"
    };
    let reason = status.canonical_reason().unwrap_or("");
    pyfmt::exception(
        "HTTPError",
        &format!("{} {kind} Error: {reason} for url: {name}", status.as_u16()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_read_like_python_requests() {
        assert_eq!(
            http_error(StatusCode::INTERNAL_SERVER_ERROR, "Portfolio List"),
            "HTTPError('500 Server Error: Internal Server Error for url: Portfolio List')"
        );
        assert_eq!(
            http_error(StatusCode::NOT_FOUND, "/notfound"),
            "HTTPError('404 Client Error: Not Found for url: /notfound')"
        );
        assert_eq!(
            http_error(StatusCode::NOT_FOUND, "it's"),
            "HTTPError(\"404 Client Error: Not Found for url: it's\")"
        );
    }
}
