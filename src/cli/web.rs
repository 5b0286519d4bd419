//! The web UI's options: whether a run has one (Locust's default: yes, unless `--headless`),
//! where it listens, and how it is protected.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Role, RunArgs, UsageError};

/// Locust's `--web-port` default.
pub const DEFAULT_WEB_PORT: u16 = 8089;

/// What the web server does in this run.
#[derive(Debug, Clone, PartialEq)]
pub enum WebMode {
    /// The page and the whole API; the test starts from the page, or at once with
    /// `--autostart` (then `--autoquit` ends the process after the test).
    Ui {
        autostart: bool,
        autoquit: Option<Duration>,
    },
    /// `--headless --serve-stats`: the read-only routes of a headless run.
    ReadOnly,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebOptions {
    pub mode: WebMode,
    /// An address to bind: `0.0.0.0` for Locust's "all interfaces".
    pub host: String,
    pub port: u16,
    /// `""` or a path starting with `/`, without a trailing `/`.
    pub base_path: String,
    /// `--web-auth USER:PASSWORD`.
    pub auth: Option<(String, String)>,
    /// `--tls-cert`, `--tls-key`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub fn resolve(
    args: &RunArgs,
    flags: &HashMap<String, bool>,
    role: &Role,
) -> Result<Option<WebOptions>, UsageError> {
    let flag = |on_cli: bool, key: &str| on_cli || flags.get(key).copied().unwrap_or(false);
    // `--headful` undoes a config file's `headless = true`, as in Locust.
    let headless = flag(args.headless, "headless") && !flag(args.headful, "headful");
    let autostart = flag(args.autostart, "autostart");
    let serve_stats = flag(args.serve_stats, "serve-stats");
    if args.autoquit.is_some() && !autostart && !headless {
        return Err(UsageError(
            "--autoquit is only meaningful in combination with --autostart".to_string(),
        ));
    }
    if headless && autostart {
        // Locust's warning, at the level of a config mistake rather than an error.
        eprintln!(
            "locusta: warning: The --autostart argument is implied by --headless, no need to set both."
        );
    }
    if serve_stats && !headless {
        return Err(UsageError(
            "--serve-stats is for --headless runs; without --headless the web UI serves every route"
                .to_string(),
        ));
    }
    if matches!(role, Role::Worker(_)) || (headless && !serve_stats) {
        return Ok(None);
    }
    let base_path = match args.web_base_path.as_deref() {
        None | Some("") => String::new(),
        Some(p) if !p.starts_with('/') => {
            return Err(UsageError(format!(
                "Invalid format for --web-base-path argument ({p}): the url path must start with a slash."
            )));
        }
        Some(p) => p.trim_end_matches('/').to_string(),
    };
    let auth = match args.web_auth.as_deref() {
        None => None,
        Some(text) => match text.split_once(':') {
            Some((user, password)) if !user.is_empty() => {
                Some((user.to_string(), password.to_string()))
            }
            _ => {
                return Err(UsageError(format!(
                    "argument --web-auth: '{text}' is not USER:PASSWORD"
                )));
            }
        },
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        _ => {
            return Err(UsageError(
                "--tls-cert and --tls-key go together: give both to serve the web UI over HTTPS"
                    .to_string(),
            ));
        }
    };
    let host = match args.web_host.as_deref() {
        None | Some("") | Some("*") => "0.0.0.0".to_string(),
        Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
    };
    let mode = if headless {
        WebMode::ReadOnly
    } else {
        WebMode::Ui {
            autostart,
            autoquit: args.autoquit.map(Duration::from_secs),
        }
    };
    Ok(Some(WebOptions {
        mode,
        host,
        port: args.web_port.unwrap_or(DEFAULT_WEB_PORT),
        base_path,
        auth,
        tls,
    }))
}
