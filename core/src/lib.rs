//! corral-core: the sans-IO heart of Corral.
//!
//! Contract: deterministic, no networking, no files, no clocks, no OS randomness, no
//! threads. Time (`now`) is an argument of every call that needs it; outputs are queued and
//! drained by the driver. The same code runs under the tokio shell (`corral-net`) and the
//! deterministic simulator (`corral-sim`).

pub mod acl;
pub mod client;
pub mod error;
pub mod jute;
pub mod path;
pub mod prep;
pub mod proto;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod tree;
pub mod txn;
pub mod types;
pub mod watch;
pub mod zab;
