//! Deterministic simulation of Corral (grows with replication; see docs/simulation.md).
