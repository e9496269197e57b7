//! Cross-crate test support. Integration tests live in `tests/tests/*.rs`; this library
//! holds what they share, notably the ZooKeeper conformance harness.

pub mod conformance;
