//! Log lines in Locust's format: `[2026-11-22 19:01:58,720] host/INFO/locusta.main: message`,
//! on stderr or in `--logfile`. (The stats tables are not log lines: they always go to stderr.)

use std::collections::VecDeque;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

struct LocustFormat {
    hostname: String,
}

impl<S, N> FormatEvent<S, N> for LocustFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            _ => "DEBUG",
        };
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
        write!(
            writer,
            "[{now}] {}/{level}/{}: ",
            self.hostname,
            event.metadata().target()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Log lines the web UI's Logs tab shows, as Locust's `/logs` keeps them: the last 500.
const RECENT_LINES: usize = 500;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last log lines, oldest first, without their newline.
pub fn recent() -> Vec<String> {
    RECENT
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

/// Collects one event's text and keeps it in [`RECENT`] when the event is written.
#[derive(Default)]
struct RecentLine(Vec<u8>);

impl io::Write for RecentLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RecentLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = text.trim_end_matches('\n');
        if line.is_empty() {
            return;
        }
        if let Ok(mut recent) = RECENT.lock() {
            if recent.len() == RECENT_LINES {
                recent.pop_front();
            }
            recent.push_back(line.to_string());
        }
    }
}

/// `-L` level names to a filter; CRITICAL silences everything, as locusta logs nothing critical.
fn level_filter(level: &str) -> LevelFilter {
    match level {
        "DEBUG" => LevelFilter::DEBUG,
        "WARNING" => LevelFilter::WARN,
        "ERROR" => LevelFilter::ERROR,
        "CRITICAL" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

/// Installs the logger; a second call in the same process is a no-op.
pub fn init(level: &str, logfile: Option<&Path>) -> Result<(), String> {
    let writer = match logfile {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open --logfile {}: {e}", path.display()))?;
            BoxMakeWriter::new(Mutex::new(file))
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    // Our own messages at the chosen level; the libraries underneath only when they warn.
    let filter = Targets::new()
        .with_target("locusta", level_filter(level))
        // locust-plugins logs its CHECK lines on the root logger; so do we.
        .with_target("root", level_filter(level))
        .with_default(LevelFilter::WARN.min(level_filter(level)));
    let layer = tracing_subscriber::fmt::layer()
        .event_format(LocustFormat {
            hostname: crate::machine::hostname(),
        })
        .with_writer(writer)
        .with_filter(filter.clone());
    let recent = tracing_subscriber::fmt::layer()
        .event_format(LocustFormat {
            hostname: crate::machine::hostname(),
        })
        .with_writer(RecentLine::default)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(recent)
        .try_init();
    Ok(())
}
