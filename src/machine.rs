//! Facts about the load-generating machine and the project under test, for the run sheet: the
//! CisTrade guide asks every benchmark to record them.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub os: String,
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The machine's short host name, as Locust prints it in log lines (up to the first dot).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".to_string()
    };
    name.split('.').next().unwrap_or("localhost").to_string()
}

impl Machine {
    pub fn read() -> Machine {
        let memory_kb = proc_field("/proc/meminfo", "MemTotal")
            .and_then(|v| {
                v.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .unwrap_or(0);
        Machine {
            hostname: hostname(),
            cpu_model: proc_field("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: memory_kb * 1024,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }

    /// One line for reports: "AMD EPYC 7B13 (2 cores), 23.5 GiB RAM".
    pub fn describe(&self) -> String {
        format!(
            "{} ({} cores), {:.1} GiB RAM",
            self.cpu_model,
            self.cores,
            self.memory_bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// CPU time this process has used so far (user and system, all threads), in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own; RUSAGE_SELF needs no other argument.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// This process's resident memory in bytes (0 where `/proc` cannot tell).
pub fn process_rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// This process's share of the machine's CPU between two readings.
pub struct CpuMeter {
    cores: f64,
    last: Option<(std::time::Instant, f64)>,
}

impl CpuMeter {
    pub fn new() -> CpuMeter {
        CpuMeter {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            last: None,
        }
    }

    /// Percent of all cores used since the previous call; `None` the first time, or when the
    /// readings are too close together to mean anything.
    pub fn sample(&mut self) -> Option<f64> {
        let now = (std::time::Instant::now(), process_cpu_seconds());
        let previous = self.last.replace(now)?;
        let wall = now.0.duration_since(previous.0).as_secs_f64();
        (wall > 0.2).then(|| ((now.1 - previous.1) / (wall * self.cores) * 100.0).clamp(0.0, 100.0))
    }
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter::new()
    }
}

/// Raises this process's open-files limit to the hard limit, since every user's connection is a
/// file descriptor and common defaults (1024) are far below what a load test needs. Returns
/// the limit now in force, if it can be read.
pub fn raise_open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        Some(limit.rlim_cur as u64)
    }
}

/// This process's open-files limit.
pub fn open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit fills the struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0).then_some(limit.rlim_cur as u64)
    }
}

/// The commit checked out in `dir`'s repository (with `-dirty` for local changes), if any.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
