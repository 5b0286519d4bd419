//! Distributed runs on Locust's own master/worker protocol (ZeroMQ + msgpack), so locusta
//! workers join a Python Locust master and Python workers join a locusta master.
//!
//! `protocol` is the wire format, `wire` turns recorded requests into Locust's serialized
//! statistics and back, `worker` is `--worker`, `master` is `--master`, and `processes`
//! starts local workers for `--processes`.

pub mod deal;
pub mod master;
pub mod processes;
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
