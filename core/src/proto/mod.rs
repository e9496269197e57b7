//! The ZooKeeper client wire protocol: records, requests, replies, events.

pub mod data;
pub mod event;
