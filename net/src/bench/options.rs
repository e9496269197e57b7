//! Command-line options of `corral bench`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// What each session does in a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Sequential persistent creates under the session's own directory.
    Create,
    /// setData on the session's own keys.
    Set,
    /// getData on the session's own keys.
    Get,
    /// exists on the session's own keys.
    Exists,
    /// getData or setData on own keys; `--read-pct` of them reads.
    Mixed,
    /// multi of `--multi-size` conditional setData sub-ops on distinct own keys.
    Multi,
    /// getData with a watch on the next session's keys, setData on own keys; counts the
    /// notifications.
    Watch,
    /// Per op: open a session, check the previous ephemeral is gone, create an ephemeral,
    /// close the session.
    EphemeralChurn,
}

impl Workload {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Mixed => "mixed",
            Workload::Multi => "multi",
            Workload::Watch => "watch",
            Workload::EphemeralChurn => "ephemeral-churn",
        }
    }

    /// Whether sessions need their keys created before the run.
    pub fn needs_keys(self) -> bool {
        !matches!(self, Workload::Create | Workload::EphemeralChurn)
    }
}

/// `corral bench`: a load generator speaking the ZooKeeper wire protocol, which verifies
/// every reply.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Servers, comma separated; sessions are spread over them round robin.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2181")]
    pub servers: Vec<SocketAddr>,
    /// What to run.
    #[arg(long, value_enum, default_value_t = Workload::Set)]
    pub workload: Workload,
    /// Concurrent sessions (one TCP connection each).
    #[arg(long, default_value_t = 32)]
    pub sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// Bytes per value written (at least 16: each value names its writer and version).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Keys per session (each session owns its keys).
    #[arg(long, default_value_t = 64)]
    pub keys: usize,
    /// Percentage of reads in the mixed workload.
    #[arg(long, default_value_t = 90)]
    pub read_pct: u8,
    /// Sub-ops per multi in the multi workload.
    #[arg(long, default_value_t = 4)]
    pub multi_size: usize,
    /// Measure for this many seconds (after the warm-up). Ignored with --ops.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Measure exactly this many ops in total instead of a duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Offered load in ops/s over all sessions (open loop): each session sends on a fixed
    /// schedule, at most `--pipeline` in flight, and latency counts from the scheduled
    /// send time, so a server that falls behind shows it. Without it, each session keeps
    /// its pipeline full (closed loop, maximum throughput).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Root path for the bench's nodes, created if missing. Each run works under a fresh
    /// child of it.
    #[arg(long, default_value = "/corral-bench")]
    pub prefix: String,
    /// Delete the run's nodes afterwards.
    #[arg(long)]
    pub cleanup: bool,
    /// Session timeout asked for, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: i32,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl BenchArgs {
    /// Defaults for a workload, as if given on the command line with no options.
    pub fn new(servers: Vec<SocketAddr>, workload: Workload) -> BenchArgs {
        BenchArgs {
            servers,
            workload,
            sessions: 32,
            pipeline: 16,
            value_size: 100,
            keys: 64,
            read_pct: 90,
            multi_size: 4,
            duration: 10.0,
            ops: None,
            warmup: 1.0,
            rate: None,
            prefix: "/corral-bench".into(),
            cleanup: false,
            session_timeout_ms: 30_000,
            json: false,
            quiet: false,
        }
    }

    /// Reject combinations that cannot run or could not be verified.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("--servers is empty".into());
        }
        if self.sessions == 0 || self.pipeline == 0 {
            return Err("--sessions and --pipeline must be at least 1".into());
        }
        if self.value_size < 16 || self.value_size > 1 << 20 {
            return Err("--value-size must be between 16 and 1048576".into());
        }
        if self.workload.needs_keys() && self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.workload == Workload::Multi && (self.multi_size == 0 || self.multi_size > self.keys)
        {
            return Err("--multi-size must be between 1 and --keys".into());
        }
        if self.read_pct > 100 {
            return Err("--read-pct must be at most 100".into());
        }
        if !(self.duration > 0.0 && self.duration.is_finite()) && self.ops.is_none() {
            return Err("--duration must be positive".into());
        }
        if !(self.warmup >= 0.0 && self.warmup.is_finite()) {
            return Err("--warmup must be zero or positive".into());
        }
        if self.ops == Some(0) {
            return Err("--ops must be at least 1".into());
        }
        if let Some(r) = self.rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err("--rate must be positive".into());
            }
            if self.workload == Workload::EphemeralChurn {
                return Err("--rate does not apply to ephemeral-churn".into());
            }
        }
        if !self.prefix.starts_with('/') || self.prefix.ends_with('/') || self.prefix.contains("//")
        {
            return Err("--prefix must be an absolute path without a trailing slash".into());
        }
        Ok(())
    }

    /// The measuring time, when not counting ops.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The warm-up time.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    /// With `--rate`: the time between two sends of one session.
    pub fn send_interval(&self) -> Option<Duration> {
        self.rate
            .map(|r| Duration::from_secs_f64(self.sessions as f64 / r))
    }
}
