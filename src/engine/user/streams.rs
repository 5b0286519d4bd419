//! A user's `ws:` and `sse:` steps: connect (or go on with a named connection), run the steps
//! on the stream, and close it (a named WebSocket stays open until the user stops).

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::time::Instant;
use url::Url;

use super::{RunContext, StepAborted, VirtualUser, next_wait, pause, render_headers, request_url};
use crate::engine::capture::{self, Payload};
use crate::engine::stream::{self, Open, Received, Source};
use crate::engine::{checks, sse};
use crate::pyfmt;
use crate::scenario::stream::{
    ExpectSpec, HoldSpec, Rows, SendBody, SseSpec, StreamStep, Target, WsSpec,
};
use crate::scenario::{RenderEnv, RenderError};

/// How long a close waits for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A far-off instant for "no limit" (tokio's own far future is 30 years; a step is bounded
/// anyway by its own waits).
fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

fn catch(message: &str) -> String {
    pyfmt::exception("CatchResponseError", message)
}

impl VirtualUser {
    fn env<'a>(&'a mut self, ctx: &'a RunContext) -> RenderEnv<'a> {
        RenderEnv {
            vars: &self.vars,
            user_id: self.id,
            iteration: self.iteration,
            rng: &mut self.rng,
            feeders: &ctx.scenario.feeders,
            rows: &mut self.rows,
        }
    }

    /// The stream's URL (a path joined to the host; `ws` for `http`) and its headers.
    fn stream_request(
        &mut self,
        ctx: &RunContext,
        target: &Target,
        websocket: bool,
    ) -> Result<(Url, HeaderMap), String> {
        let host = ctx.hosts[self.user_type].clone();
        let mut env = self.env(ctx);
        let rendered = target.url.render(&mut env).map_err(|e| e.to_string())?;
        let mut url = request_url(host.as_deref(), target.absolute, &rendered)?;
        if websocket && !target.absolute {
            let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
            url.set_scheme(scheme)
                .map_err(|()| format!("`{url}` cannot be a WebSocket URL"))?;
        }
        if !target.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, t) in &target.query {
                pairs.append_pair(k, &t.render(&mut env).map_err(|e| e.to_string())?);
            }
        }
        let headers = render_headers(&mut env, &target.headers, target.auth.as_ref())?;
        Ok((url, headers))
    }

    fn render_body(&mut self, ctx: &RunContext, body: &SendBody) -> Result<String, RenderError> {
        let mut env = self.env(ctx);
        match body {
            SendBody::Text(t) => t.render(&mut env),
            SendBody::Json(j) => j.render(&mut env).map(|v| v.to_string()),
        }
    }

    pub(super) async fn ws(&mut self, ctx: &RunContext, spec: &WsSpec) -> Result<(), StepAborted> {
        let kept = spec
            .id
            .and_then(|i| self.streams.get_mut(i))
            .and_then(Option::take)
            .filter(|o| !o.ended);
        let mut open = match kept {
            Some(open) => *open,
            None => match self.ws_connect(ctx, spec).await? {
                Some(open) => open,
                None => return Ok(()),
            },
        };
        let limit = spec.target.timeout.map_or_else(far, |t| Instant::now() + t);
        let result = self
            .stream_steps(ctx, &mut open, &spec.steps, &spec.rows, &spec.target, limit)
            .await;
        match (spec.id, open.ended) {
            (_, true) => {}
            (Some(i), false) => {
                if self.streams.len() <= i {
                    self.streams.resize_with(i + 1, || None);
                }
                self.streams[i] = Some(Box::new(open));
            }
            (None, false) => open.close(1000, "", CLOSE_WAIT).await,
        }
        result
    }

    async fn ws_connect(
        &mut self,
        ctx: &RunContext,
        spec: &WsSpec,
    ) -> Result<Option<Open>, StepAborted> {
        let (url, headers) = match self.stream_request(ctx, &spec.target, true) {
            Ok(r) => r,
            Err(message) => {
                let label = format!("WS {}", spec.rows.name);
                self.user_error(ctx, &spec.target.origin, &label, &message);
                return Err(StepAborted);
            }
        };
        let mut headers = headers;
        super::super::http::add_cookies(&mut headers, &self.cookies, &url);
        let requested = Instant::now();
        let recorder = crate::engine::ws::Recorder {
            stats: ctx.stats.clone(),
            received: spec.rows.name.as_str().into(),
            session: spec.rows.session.as_str().into(),
        };
        // Boxed, so the handshake's state (TLS included) is held only while it runs, not by
        // the step's future for as long as the connection is held: unboxed, it sized every
        // holding user's step for it, 24.6 KiB per held connection where boxed is 13.4
        // (bench/ws_hold.py, 2,000 users).
        let connected = Box::pin(ctx.ws.connect(
            &url,
            headers,
            &spec.subprotocols,
            spec.target.connect_timeout,
            recorder,
        ))
        .await;
        let open = match connected {
            Ok(conn) => Open::new(Source::Ws(conn), stream::WS, requested),
            Err(e) => {
                let took = requested.elapsed();
                stream::record(&ctx.stats, "WS", &spec.rows.name, took, 0, Some(&e));
                return Ok(None);
            }
        };
        open.row(
            &ctx.stats,
            &spec.rows.name,
            open.opened - requested,
            0,
            None,
        );
        Ok(Some(open))
    }

    pub(super) async fn sse(
        &mut self,
        ctx: &RunContext,
        spec: &SseSpec,
    ) -> Result<(), StepAborted> {
        let label = || format!("SSE {}", spec.rows.name);
        let (url, headers) = match self.stream_request(ctx, &spec.target, false) {
            Ok(r) => r,
            Err(message) => {
                self.user_error(ctx, &spec.target.origin, &label(), &message);
                return Err(StepAborted);
            }
        };
        let body = match &spec.body {
            None => None,
            Some(b) => match self.render_body(ctx, b) {
                Ok(text) => Some(Bytes::from(text)),
                Err(e) => {
                    self.user_error(ctx, &spec.target.origin, &label(), &e.to_string());
                    return Err(StepAborted);
                }
            },
        };
        let mut headers = headers;
        if matches!(spec.body, Some(SendBody::Json(_))) {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        let request = sse::SseRequest {
            method: spec.method.clone(),
            url,
            headers,
            body,
            connect_timeout: spec.target.connect_timeout,
        };
        let requested = Instant::now();
        // Boxed as the WebSocket handshake is: the request's state is not held by the step.
        let opened = Box::pin(sse::open(
            &ctx.client,
            request,
            &mut self.cookies,
            &spec.rows.name,
            "",
            spec.reconnect,
        ))
        .await;
        let mut open = match opened {
            Ok((source, took)) => {
                let mut open = Open::new(Source::Sse(Box::new(source)), stream::SSE, requested);
                open.row(&ctx.stats, &spec.rows.name, took, 0, None);
                // An SSE expect is timed from the request (the first token's time, say).
                open.anchor = requested;
                open
            }
            Err(e) => {
                let took = requested.elapsed();
                stream::record(&ctx.stats, "SSE", &spec.rows.name, took, 0, Some(&e));
                return Ok(());
            }
        };
        let limit = spec.target.timeout.map_or_else(far, |t| Instant::now() + t);
        let result = self
            .stream_steps(ctx, &mut open, &spec.steps, &spec.rows, &spec.target, limit)
            .await;
        // Done with it: the client ends an event stream by closing it.
        open.end(&ctx.stats, &spec.rows, None);
        result
    }

    /// Closes the user's named connections (1001, going away), when it stops.
    pub(super) async fn close_streams(&mut self) {
        for open in std::mem::take(&mut self.streams).into_iter().flatten() {
            let mut open = open;
            open.close(1001, "", CLOSE_WAIT).await;
        }
    }

    async fn stream_steps(
        &mut self,
        ctx: &RunContext,
        open: &mut Open,
        steps: &[StreamStep],
        rows: &Rows,
        target: &Target,
        limit: Instant,
    ) -> Result<(), StepAborted> {
        let idle = target.idle_timeout;
        for step in steps {
            if open.ended || Instant::now() >= limit {
                return Ok(());
            }
            match step {
                StreamStep::Send(body) => {
                    let text = match self.render_body(ctx, body) {
                        Ok(t) => t,
                        Err(e) => {
                            let label = format!("WS {}", rows.name);
                            self.user_error(ctx, &target.origin, &label, &e.to_string());
                            return Err(StepAborted);
                        }
                    };
                    if let Source::Ws(ws) = &mut open.source {
                        if let Err(e) = ws.send_text(text).await {
                            open.end(&ctx.stats, rows, Some(&e));
                            return Ok(());
                        }
                        open.anchor = Instant::now();
                    }
                }
                StreamStep::Expect(e) => self.expect(ctx, open, e, rows, idle, limit).await,
                StreamStep::Hold(h) => self.hold(ctx, open, h, rows, idle, limit).await,
                StreamStep::Ping { row, within } => {
                    let Source::Ws(ws) = &mut open.source else {
                        continue;
                    };
                    let sent = Instant::now();
                    let payload = match ws.ping().await {
                        Ok(p) => p,
                        Err(e) => {
                            open.end(&ctx.stats, rows, Some(&e));
                            return Ok(());
                        }
                    };
                    let deadline = (sent + *within).min(limit);
                    loop {
                        match open
                            .receive(
                                &ctx.client,
                                &mut self.cookies,
                                &ctx.stats,
                                rows,
                                idle,
                                deadline,
                            )
                            .await
                        {
                            Received::Pong(p) if p == payload => {
                                open.row(&ctx.stats, row, sent.elapsed(), 0, None);
                                break;
                            }
                            Received::Pong(_) => {}
                            Received::Message(m) => open.keep(m),
                            Received::Deadline => {
                                let why = pyfmt::exception(
                                    "WebSocketTimeoutException",
                                    &format!(
                                        "no pong within {} s",
                                        pyfmt::float(within.as_secs_f64())
                                    ),
                                );
                                open.row(&ctx.stats, row, sent.elapsed(), 0, Some(&why));
                                break;
                            }
                            Received::Idle | Received::Ended => return Ok(()),
                        }
                    }
                }
                StreamStep::Close { code, reason } => {
                    open.close(*code, reason, CLOSE_WAIT).await;
                    return Ok(());
                }
                StreamStep::Wait(w) => {
                    let d = next_wait(w, &mut self.rng, &mut self.pacer, Instant::now());
                    pause(
                        &ctx.timer,
                        d.min(limit.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    async fn expect(
        &mut self,
        ctx: &RunContext,
        open: &mut Open,
        e: &ExpectSpec,
        rows: &Rows,
        idle: Duration,
        limit: Instant,
    ) {
        let start = Instant::now();
        let deadline = (start + e.within).min(limit);
        let found = match open.take_unmatched(&e.matcher) {
            Some(m) => Some(m),
            None => loop {
                match open
                    .receive(
                        &ctx.client,
                        &mut self.cookies,
                        &ctx.stats,
                        rows,
                        idle,
                        deadline,
                    )
                    .await
                {
                    Received::Message(m) if stream::matches(&e.matcher, &m) => break Some(m),
                    Received::Message(m) => open.keep(m),
                    Received::Pong(_) => {}
                    Received::Deadline | Received::Idle | Received::Ended => break None,
                }
            },
        };
        let Some(message) = found else {
            let why = if open.ended {
                pyfmt::exception(
                    "WebSocketConnectionClosedException",
                    &format!("the stream ended before a message {}", e.matcher.shown),
                )
            } else {
                pyfmt::exception(
                    "WebSocketTimeoutException",
                    &format!(
                        "no message {} within {} s",
                        e.matcher.shown,
                        pyfmt::float(e.within.as_secs_f64())
                    ),
                )
            };
            open.row(&ctx.stats, &e.row, start.elapsed(), 0, Some(&why));
            return;
        };
        let took = message.at.saturating_duration_since(open.anchor);
        let mut error = None;
        if let Some(check) = &e.check {
            error = checks::content_failure(&check.checks, &message.data);
            if error.is_none() && !stream::matches(check, &message) {
                error = Some(catch(&format!("expected a message {}", check.shown)));
            }
        }
        if error.is_none()
            && let Some(limit) = e.max_time
            && took > limit
        {
            error = Some(catch(&format!(
                "expected a message within {} ms, took {} ms",
                limit.as_millis(),
                took.as_millis()
            )));
        }
        if !e.captures.is_empty() {
            let payload = Payload {
                body: &message.data,
                headers: None,
                url: None,
            };
            if let Err(why) = capture::apply(
                &e.captures,
                &payload,
                &self.cookies,
                &mut self.vars,
                &mut self.rng,
            ) {
                error.get_or_insert(catch(&why));
            }
        }
        open.row(
            &ctx.stats,
            &e.row,
            took,
            message.data.len() as u64,
            error.as_deref(),
        );
    }

    async fn hold(
        &mut self,
        ctx: &RunContext,
        open: &mut Open,
        h: &HoldSpec,
        rows: &Rows,
        idle: Duration,
        limit: Instant,
    ) {
        let start = Instant::now();
        let deadline = (start + h.duration).min(limit);
        let mut messages = 0u64;
        let mut counted = 0u64;
        let mut last_counted = start;
        loop {
            if h.messages.is_some_and(|n| messages >= n) {
                break;
            }
            match open
                .receive(
                    &ctx.client,
                    &mut self.cookies,
                    &ctx.stats,
                    rows,
                    idle,
                    deadline,
                )
                .await
            {
                Received::Message(m) => {
                    messages += 1;
                    if let Some(c) = &h.count
                        && stream::matches(&c.matcher, &m)
                    {
                        counted += 1;
                        let bytes = m.data.len() as u64;
                        let gap = m.at.saturating_duration_since(last_counted);
                        open.received_row(&ctx.stats, &c.row, gap, bytes, None);
                        last_counted = m.at;
                    }
                    if h.until.as_ref().is_some_and(|u| stream::matches(u, &m)) {
                        break;
                    }
                }
                Received::Pong(_) => {}
                Received::Deadline | Received::Idle | Received::Ended => break,
            }
        }
        if let Some(c) = &h.count
            && let Some(min) = c.min
            && counted < min
        {
            let why = catch(&format!(
                "expected at least {min} messages {}, got {counted}",
                c.matcher.shown
            ));
            open.received_row(&ctx.stats, &c.row, Duration::ZERO, 0, Some(&why));
        }
    }
}
