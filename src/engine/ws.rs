//! WebSocket connections on tokio-tungstenite, with the TLS settings HTTPS has.
//!
//! tungstenite does the protocol (handshake, framing, masking, ping/pong and close handshakes)
//! and is what axum's own WebSocket support runs on, so one copy serves the demo target and the
//! client. Its buffers are sized for holding many quiet connections: 4 KiB to read (its default
//! is 128 KiB, which made 10,000 held connections cost 1.3 GB), and no write buffering (a
//! message is written as it is sent, as a load test wants).

use std::sync::Arc;
use std::time::Duration;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::pyfmt;
use crate::stats::{RequestSample, Stats, unix_now};

/// Read buffer of each connection (see the module's doc).
const READ_BUFFER: usize = 4 * 1024;

/// The largest message accepted (tungstenite's default is 64 MiB; a price feed's are small,
/// and a bound keeps a misbehaving server from growing a user without limit).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// What every WebSocket of a run shares: the TLS configuration.
#[derive(Clone)]
pub struct WsClient {
    tls: Arc<rustls::ClientConfig>,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClient")
    }
}

/// Accepts any certificate (`--insecure`), as reqwest's `danger_accept_invalid_certs` does.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl WsClient {
    /// The same trust as the HTTPS client: the platform's roots plus `--ca-file`, or none at
    /// all with `--insecure`.
    pub fn new(user_agent: &str, insecure: bool, ca_pem: Option<&[u8]>) -> Result<Self, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS for WebSockets: {e}"))?;
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if insecure {
            Arc::new(AcceptAny(provider.clone()))
        } else {
            let extra: Vec<CertificateDer<'static>> = match ca_pem {
                Some(pem) => CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("cannot read the CA certificates: {e}"))?,
                None => Vec::new(),
            };
            Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
                    .map_err(|e| format!("cannot set up TLS for WebSockets: {e}"))?,
            )
        };
        let tls = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(WsClient {
            tls: Arc::new(tls),
            user_agent: HeaderValue::from_str(user_agent)
                .unwrap_or(HeaderValue::from_static("locusta")),
        })
    }

    /// Opens a WebSocket to `url` with these handshake headers and subprotocols, within
    /// `timeout`, and starts reading it (see [`WsConn`]). The error is worded as
    /// websocket-client (what Locust users' WebSocket code runs on) words it.
    pub async fn connect(
        &self,
        url: &Url,
        headers: HeaderMap,
        subprotocols: &[String],
        timeout: Duration,
        rows: Recorder,
    ) -> Result<WsConn, String> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| describe(&e, timeout))?;
        let h = request.headers_mut();
        h.insert(http::header::USER_AGENT, self.user_agent.clone());
        for (name, value) in &headers {
            h.insert(name, value.clone());
        }
        if !subprotocols.is_empty()
            && let Ok(v) = HeaderValue::from_str(&subprotocols.join(", "))
        {
            h.insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(Connector::Rustls(self.tls.clone())),
        );
        let stream = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => return Err(timeout_error(timeout)),
            Ok(Err(e)) => return Err(describe(&e, timeout)),
            Ok(Ok((stream, _response))) => stream,
        };
        let (sink, stream) = stream.split();
        let (tx, incoming) = mpsc::channel(QUEUED);
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let reader = tokio::spawn(read(stream, tx, shared.clone(), rows, stop.clone()));
        Ok(WsConn {
            sink,
            incoming,
            shared,
            stop,
            reader: Some(reader),
            pings: 0,
        })
    }
}

/// Messages a connection's reader hands on before the steps take them; more are counted in the
/// rows but not kept (a server that pushes what no step reads must not grow the user).
const QUEUED: usize = 1000;

/// Where a connection's reader records what it receives.
pub struct Recorder {
    pub stats: Arc<Stats>,
    /// The `WSR` row (every message, timed by the gap before it).
    pub received: Arc<str>,
    /// The `WS` row of the connection's life.
    pub session: Arc<str>,
}

#[derive(Default)]
struct Shared {
    /// How the connection ended, once it has.
    ended: OnceLock<Result<(), String>>,
    /// The client sent its close frame: what follows is the end it asked for.
    closing: AtomicBool,
}

/// One open WebSocket. A task of its own reads it from the handshake to the end, so every
/// message is timed when it arrives (the `WSR` gaps show a stall, not the user's think time
/// between steps) and pings are answered while the user does other things; the steps take
/// the messages from it. Dropping the connection stops the reader, which writes the session's
/// row in every case.
pub struct WsConn {
    sink: SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
    incoming: mpsc::Receiver<Incoming>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    reader: Option<JoinHandle<()>>,
    /// Pings sent, so each pong can be matched to its ping.
    pings: u64,
}

impl Drop for WsConn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What the connection brought.
pub enum Incoming {
    /// A text or binary message, and when it arrived.
    Message(Vec<u8>, Instant),
    /// A pong, with its payload.
    Pong(Vec<u8>),
    /// The connection is over: closed as it should be (1000, 1001), or not (why, in words).
    Ended(Result<(), String>),
}

fn record(stats: &Stats, kind: &str, name: &str, took: Duration, size: u64, error: Option<&str>) {
    stats.record(&RequestSample {
        method: kind,
        name,
        response_time_ms: took.as_secs_f64() * 1000.0,
        content_length: size,
        error,
        timestamp: unix_now(),
    });
}

/// The reader: every message timed and recorded as it arrives, then handed to the steps.
async fn read(
    mut stream: SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    tx: mpsc::Sender<Incoming>,
    shared: Arc<Shared>,
    rows: Recorder,
    stop: CancellationToken,
) {
    let opened = Instant::now();
    let mut last = opened;
    let mut bytes = 0u64;
    let closing = || shared.closing.load(Ordering::Acquire);
    let end = loop {
        let next = tokio::select! {
            biased;
            _ = stop.cancelled() => break Ok(()),
            next = stream.next() => next,
        };
        let data = match next {
            None if closing() => break Ok(()),
            None => break Err(connection_lost()),
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Pong(p))) => {
                let _ = tx.try_send(Incoming::Pong(p.to_vec()));
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) if closing() => break Ok(()),
            Some(Ok(Message::Close(frame))) => break closed(frame),
            Some(Err(_)) if closing() => break Ok(()),
            Some(Err(e)) => break Err(describe(&e, Duration::ZERO)),
        };
        let now = Instant::now();
        let size = data.len() as u64;
        bytes += size;
        record(&rows.stats, "WSR", &rows.received, now - last, size, None);
        last = now;
        let _ = tx.try_send(Incoming::Message(data, now));
    };
    let error = end.as_ref().err().map(String::as_str);
    record(
        &rows.stats,
        "WS",
        &rows.session,
        opened.elapsed(),
        bytes,
        error,
    );
    let _ = shared.ended.set(end);
}

impl WsConn {
    /// The next message, pong or end.
    pub async fn next(&mut self) -> Incoming {
        match self.incoming.recv().await {
            Some(item) => item,
            None => Incoming::Ended(self.shared.ended.get().cloned().unwrap_or(Ok(()))),
        }
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), String> {
        self.sink
            .send(Message::text(text))
            .await
            .map_err(|e| describe(&e, Duration::ZERO))
    }

    /// Sends a ping and returns the payload its pong will carry.
    pub async fn ping(&mut self) -> Result<Vec<u8>, String> {
        self.pings += 1;
        let payload = self.pings.to_be_bytes().to_vec();
        self.sink
            .send(Message::Ping(payload.clone().into()))
            .await
            .map_err(|e| describe(&e, Duration::ZERO))?;
        Ok(payload)
    }

    /// Sends a close frame and waits (at most `wait`) for the server's; the reader then
    /// writes the session's row.
    pub async fn close(mut self, code: u16, reason: &str, wait: Duration) {
        self.shared.closing.store(true, Ordering::Release);
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        if self.sink.send(Message::Close(Some(frame))).await.is_ok()
            && let Some(reader) = self.reader.take()
        {
            let _ = tokio::time::timeout(wait, reader).await;
        }
    }
}

fn connection_lost() -> String {
    pyfmt::exception(
        "WebSocketConnectionClosedException",
        "Connection to remote host was lost.",
    )
}

fn timeout_error(timeout: Duration) -> String {
    pyfmt::exception(
        "WebSocketTimeoutException",
        &format!(
            "timed out after {} s",
            crate::pyfmt::float(timeout.as_secs_f64())
        ),
    )
}

/// A close frame from the server: 1000 and 1001 (going away) are a normal end.
fn closed(frame: Option<CloseFrame>) -> Result<(), String> {
    match frame {
        None => Ok(()),
        Some(f) => {
            let code = u16::from(f.code);
            if code == 1000 || code == 1001 {
                Ok(())
            } else {
                Err(pyfmt::exception(
                    "WebSocketConnectionClosedException",
                    format!("closed by the server with code {code} {}", f.reason).trim_end(),
                ))
            }
        }
    }
}

/// A tungstenite error in websocket-client's words.
fn describe(e: &WsError, timeout: Duration) -> String {
    match e {
        WsError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => timeout_error(timeout),
        // A handshake the certificate check refused comes back from tokio-rustls as an I/O
        // error around rustls's: worded as the run's HTTPS requests word it.
        WsError::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            pyfmt::exception("SSLError", &io.to_string())
        }
        WsError::Io(io) => crate::engine::errors::io_error_repr(io),
        WsError::Http(response) => {
            let status = response.status();
            pyfmt::exception(
                "WebSocketBadStatusException",
                format!(
                    "Handshake status {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end(),
            )
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => connection_lost(),
        WsError::Protocol(p) => {
            use tokio_tungstenite::tungstenite::error::ProtocolError;
            match p {
                ProtocolError::ResetWithoutClosingHandshake => connection_lost(),
                other => pyfmt::exception("WebSocketProtocolException", &other.to_string()),
            }
        }
        WsError::Tls(t) => pyfmt::exception("SSLError", &t.to_string()),
        WsError::Url(u) => pyfmt::exception("WebSocketAddressException", &u.to_string()),
        WsError::Capacity(c) => pyfmt::exception("WebSocketPayloadException", &c.to_string()),
        other => pyfmt::exception("WebSocketException", &other.to_string()),
    }
}
