//! Distributed runs on Locust's own master/worker protocol (ZeroMQ + msgpack), so locusta
//! workers join a Python Locust master and Python workers join a locusta master.
//!
//! `protocol` is the wire format, `wire` turns recorded requests into Locust's serialized
//! statistics, `worker` is `--worker`.

pub mod protocol;
pub mod wire;
pub mod worker;

pub use crate::cli::WorkerOptions;

use crate::machine;

/// Locust's worker id: `<hostname>_<32 hex digits>`. The master groups workers by the part
/// before the first `_`, so the host name must not contain one.
pub fn node_id() -> String {
    let host = machine::hostname().replace('_', "-");
    format!("{host}_{}", uuid::Uuid::new_v4().simple())
}

/// This process's CPU use since the previous reading, as a percentage of the whole machine
/// (Locust warns about a worker above 90).
pub struct CpuMeter {
    last_cpu: f64,
    last_at: std::time::Instant,
    cores: f64,
}

impl CpuMeter {
    pub fn new() -> CpuMeter {
        CpuMeter {
            last_cpu: machine::process_cpu_seconds(),
            last_at: std::time::Instant::now(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        }
    }

    pub fn percent(&mut self) -> f64 {
        let cpu = machine::process_cpu_seconds();
        let wall = self.last_at.elapsed().as_secs_f64();
        let used = cpu - self.last_cpu;
        self.last_cpu = cpu;
        self.last_at = std::time::Instant::now();
        if wall <= 0.0 {
            return 0.0;
        }
        (used / wall / self.cores * 100.0).clamp(0.0, 100.0)
    }
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter::new()
    }
}
