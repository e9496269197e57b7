//! corral-sim: deterministic simulation of Corral on turmoil.
//!
//! One seed decides a whole run: topology, timing, workload and faults. Server hosts run
//! the real `corral_core::server::Server` behind a small driver over turmoil TCP and a
//! simulated disk; client hosts run the real `corral_core::client::Client` speaking the
//! ZooKeeper wire protocol. Every operation is recorded and checked against the server's
//! durable log (see `check`). The same seed and commit always produce the same trace
//! digest. See docs/simulation.md.
//!
//! A seed draws a standalone server or an ensemble of 3 or 5 (peer links over turmoil TCP,
//! the real ZAB engine in every server), and the replication invariants are checked as
//! the run goes (`cluster`).

pub mod check;
pub mod cli;
pub mod client_host;
pub mod cluster;
pub mod coverage;
pub mod disk;
pub mod faults;
pub mod history;
pub mod history_file;
pub mod rng;
pub mod scenario;
pub mod server_host;
pub mod shrink;
pub mod trace;
pub mod wire;
pub mod workload;
pub mod world;

pub use world::{run, RunData, RunOptions, RunReport};
