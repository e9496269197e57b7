//! corral-net: the tokio shell around `corral-core` and the `corral` binary's guts.
//!
//! `config` reads zoo.cfg, `storage` keeps the durable transaction log, `server` drives the
//! core state machine over TCP, `fourlw` answers ZooKeeper's four-letter words, `peer` links
//! the members of an ensemble, `ensemble` writes and runs a local test ensemble.

pub mod bench;
pub mod config;
pub mod datatool;
pub mod ensemble;
pub mod fourlw;
pub mod peer;
pub mod server;
pub mod storage;
pub mod timefmt;
