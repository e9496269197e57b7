//! The result of a run, as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Histogram;

/// What a run measured. Latencies are in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub servers: Vec<String>,
    pub sessions: usize,
    pub pipeline: usize,
    pub value_size: usize,
    pub keys: usize,
    /// Measured ops completed (a multi or a churn round counts as one).
    pub ops: u64,
    /// Verification failures, unexpected error codes and failed sessions.
    pub errors: u64,
    /// Seconds from the end of the warm-up to the last measured reply.
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Watch notifications received and verified (watch workload).
    pub notifications: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// The path the run worked under.
    pub run_root: String,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl Report {
    /// Fill in the latency fields from `hist`, and throughput from `ops` and `elapsed_s`.
    pub fn set_latency(&mut self, hist: &Histogram) {
        self.mean_us = hist.mean() / 1000.0;
        self.p50_us = us(hist.quantile(0.5));
        self.p99_us = us(hist.quantile(0.99));
        self.p999_us = us(hist.quantile(0.999));
        self.max_us = us(hist.max());
        self.ops_per_s = if self.elapsed_s > 0.0 {
            self.ops as f64 / self.elapsed_s
        } else {
            0.0
        };
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<16} {:>8} {:>5} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "workload",
            "sessions",
            "depth",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "errors"
        );
        let _ = writeln!(
            s,
            "{:<16} {:>8} {:>5} {:>10} {:>11.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7}",
            self.workload,
            self.sessions,
            self.pipeline,
            self.ops,
            self.ops_per_s,
            self.p50_us / 1000.0,
            self.p99_us / 1000.0,
            self.p999_us / 1000.0,
            self.max_us / 1000.0,
            self.errors
        );
        if self.notifications > 0 {
            let _ = writeln!(s, "watch notifications: {}", self.notifications);
        }
        for e in &self.error_samples {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
