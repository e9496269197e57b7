//! Four-letter words: plain-text monitoring commands on the client port (compat §11).
//!
//! A connection whose first 4 bytes spell a known command is answered with text and closed;
//! any other first 4 bytes are a frame length. Output formats copy ZooKeeper 3.8.0's
//! (`StatCommand`, `ServerStats.toString`, `ServerCnxn.dumpConnectionInfo`, `dumpConf`,
//! `Environment.list`, ...). The version reads `3.8.0-corral-<ver>, built on <date>` so that
//! tools parsing the ZooKeeper version keep working while Corral's own version shows.

use std::net::SocketAddr;
use std::path::Path;

use corral_core::server::{ConnStats, StatsSnapshot};

use crate::config::Config;
use crate::storage::log::LOG_SUBDIR;
use crate::timefmt::java_date;

/// Every command ZooKeeper 3.8 knows (besides the telnet close sequence).
pub const COMMANDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srvr", "srst", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The bytes telnet sends when it closes (IAC IP IAC DO TM): close silently.
pub const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

/// The ZooKeeper version Corral behaves like.
pub const ZK_VERSION: &str = "3.8.0";
/// Corral's own version.
pub const CORRAL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// ZooKeeper's default text trace mask (`ZooTrace`), reported by `gtmk`.
pub const DEFAULT_TRACE_MASK: i64 = 306;

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// `3.8.0-corral-0.1.0, built on 2024-02-29 13:05 UTC`.
pub fn full_version() -> String {
    let date = option_env!("CORRAL_BUILD_DATE").unwrap_or("unknown");
    format!("{ZK_VERSION}-corral-{CORRAL_VERSION}, built on {date}")
}

/// What the first 4 bytes of a connection are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    Command(&'static str),
    TelnetClose,
    Frame,
}

/// Classify the first 4 bytes of a connection.
pub fn classify(first: [u8; 4]) -> Opening {
    if first == TELNET_CLOSE {
        return Opening::TelnetClose;
    }
    COMMANDS
        .iter()
        .find(|c| c.as_bytes() == first)
        .map_or(Opening::Frame, |c| Opening::Command(c))
}

/// Text sent for a command that is not whitelisted.
pub fn refusal(cmd: &str) -> String {
    format!("{cmd} is not executed because it is not in the whitelist.\n")
}

/// Everything a command may report.
pub struct Context<'a> {
    pub config: &'a Config,
    pub stats: &'a StatsSnapshot,
    pub serving: bool,
    pub now_ms: i64,
    pub uptime_ms: i64,
    /// The four-letter-word connection itself (ZooKeeper lists it too).
    pub own_remote: SocketAddr,
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    /// The trace mask after this command (`gtmk`, `stmk`).
    pub trace_mask: i64,
}

/// The full answer to `cmd` (a member of `COMMANDS`, already whitelisted).
pub fn render(cmd: &str, ctx: &Context<'_>) -> String {
    let needs_serving = !matches!(cmd, "ruok" | "envi" | "gtmk" | "stmk" | "isro");
    if needs_serving && !ctx.serving {
        return NOT_SERVING.to_owned();
    }
    match cmd {
        "ruok" => "imok".to_owned(),
        "isro" => if ctx.serving { "rw" } else { "null" }.to_owned(),
        "gtmk" | "stmk" => ctx.trace_mask.to_string(),
        "srvr" => stat(ctx, false),
        "stat" => stat(ctx, true),
        "cons" => cons(ctx),
        "conf" => conf(ctx),
        "envi" => envi(),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            ctx.data_dir_size, ctx.log_dir_size
        ),
        "crst" => "Connection stats reset.\n".to_owned(),
        "srst" => "Server stats reset.\n".to_owned(),
        "wchs" => wchs(ctx.stats),
        "wchp" => wchp(ctx.stats),
        "wchc" => wchc(ctx.stats),
        "dump" => dump(ctx),
        "mntr" => mntr(ctx),
        // No tree digests are kept yet: an empty digest history.
        "hash" => String::new(),
        _ => String::new(),
    }
}

/// Java's `Double.toString` for the values we print (finite, modest magnitude).
pub fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// ZooKeeper rounds average latencies to 4 decimals before printing them.
fn avg(v: f64) -> String {
    java_double((v * 10_000.0).round() / 10_000.0)
}

/// `InetSocketAddress.toString()`: `/127.0.0.1:2181`, `/[0:0:0:0:0:0:0:1]:2181`.
pub fn java_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            let segs: Vec<String> = a.ip().segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/[{}]:{}", segs.join(":"), a.port())
        }
    }
}

fn remote_text(remote: &str) -> String {
    match remote.parse::<SocketAddr>() {
        Ok(a) => java_addr(a),
        Err(_) if remote.starts_with('/') => remote.to_owned(),
        Err(_) => format!("/{remote}"),
    }
}

/// Brief or full `dumpConnectionInfo` of a core connection.
fn conn_info(c: &ConnStats, brief: bool) -> String {
    let mut s = format!(
        " {}[1](queued={},recved={},sent={}",
        remote_text(&c.remote),
        c.queued,
        c.received,
        c.sent
    );
    if !brief && c.session.0 != 0 {
        s.push_str(&format!(
            ",sid=0x{:x},lop={},est={},to={}",
            c.session.0, c.last_op, c.established_ms, c.timeout_ms
        ));
        if c.last_cxid >= 0 {
            s.push_str(&format!(",lcxid=0x{:x}", c.last_cxid));
        }
        s.push_str(&format!(
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid.0,
            c.last_response_ms,
            c.last_latency_ms,
            c.min_latency_ms,
            avg(c.avg_latency_ms),
            c.max_latency_ms
        ));
    }
    s.push(')');
    s
}

/// The four-letter-word connection's own line (no session, one packet received).
fn own_info(ctx: &Context<'_>) -> String {
    format!(
        " {}[0](queued=0,recved=1,sent=0)",
        java_addr(ctx.own_remote)
    )
}

fn alive_connections(ctx: &Context<'_>) -> usize {
    ctx.stats.connections.len() + 1
}

fn stat(ctx: &Context<'_>, with_clients: bool) -> String {
    let st = ctx.stats;
    let mut s = format!("Zookeeper version: {}\n", full_version());
    if with_clients {
        s.push_str("Clients:\n");
        for c in &st.connections {
            s.push_str(&conn_info(c, true));
            s.push('\n');
        }
        s.push_str(&own_info(ctx));
        s.push_str("\n\n");
    }
    s.push_str(&format!(
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        st.min_latency_ms,
        avg(st.avg_latency_ms),
        st.max_latency_ms,
        st.packets_received,
        st.packets_sent,
        alive_connections(ctx),
        st.outstanding_requests,
        st.last_zxid.0,
        if st.mode.is_empty() {
            "standalone"
        } else {
            st.mode
        },
        st.node_count
    ));
    s
}

fn cons(ctx: &Context<'_>) -> String {
    let mut s = String::new();
    for c in &ctx.stats.connections {
        s.push_str(&conn_info(c, false));
        s.push('\n');
    }
    s.push_str(&own_info(ctx));
    s.push_str("\n\n");
    s
}

fn absolute(p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    abs.join(LOG_SUBDIR).display().to_string()
}

fn conf(ctx: &Context<'_>) -> String {
    let c = ctx.config;
    format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\n\
         dataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\n\
         maxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId=0\n",
        c.client_addr.port(),
        absolute(&c.data_dir),
        ctx.data_dir_size,
        absolute(&c.data_log_dir),
        ctx.log_dir_size,
        c.server.tick_time_ms,
        c.server.max_client_cnxns,
        c.server.min_session_timeout_ms,
        c.server.max_session_timeout_ms
    )
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn envi() -> String {
    let os_name = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        other => other,
    };
    let os_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        other => other,
    };
    let na = || "<NA>".to_owned();
    let entries = [
        ("zookeeper.version", full_version()),
        ("corral.version", CORRAL_VERSION.to_owned()),
        (
            "host.name",
            read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(na),
        ),
        ("os.name", os_name.to_owned()),
        ("os.arch", os_arch.to_owned()),
        (
            "os.version",
            read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(na),
        ),
        ("user.name", std::env::var("USER").unwrap_or_else(|_| na())),
        ("user.home", std::env::var("HOME").unwrap_or_else(|_| na())),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| na()),
        ),
    ];
    let mut s = "Environment:\n".to_owned();
    for (k, v) in entries {
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

fn wchs(st: &StatsSnapshot) -> String {
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        st.watching_connections, st.watched_paths, st.total_watches
    )
}

fn wchp(st: &StatsSnapshot) -> String {
    let mut s = String::new();
    for (path, sessions) in &st.watches_by_path {
        s.push_str(path);
        s.push('\n');
        for sid in sessions {
            s.push_str(&format!("\t0x{:x}\n", sid.0));
        }
    }
    s.push('\n');
    s
}

fn wchc(st: &StatsSnapshot) -> String {
    let mut by_session = std::collections::BTreeMap::<i64, Vec<&str>>::new();
    for (path, sessions) in &st.watches_by_path {
        for sid in sessions {
            by_session.entry(sid.0).or_default().push(path);
        }
    }
    let mut s = String::new();
    for (sid, paths) in by_session {
        s.push_str(&format!("0x{sid:x}\n"));
        for p in paths {
            s.push_str(&format!("\t{p}\n"));
        }
    }
    s.push('\n');
    s
}

/// `dump`. ZooKeeper prints its session and connection expiry buckets; Corral's snapshot
/// has no deadlines, so sessions are bucketed by a fresh deadline (now + timeout, rounded
/// up to a tick) and connections put in one bucket one tick ahead.
fn dump(ctx: &Context<'_>) -> String {
    let st = ctx.stats;
    let tick = ctx.config.server.tick_time_ms.max(1);
    let bucket = |ms: i64| (ms / tick + 1) * tick;
    let mut sets = std::collections::BTreeMap::<i64, Vec<i64>>::new();
    for (sid, timeout) in &st.sessions {
        sets.entry(bucket(ctx.now_ms + timeout))
            .or_default()
            .push(sid.0);
    }
    let mut s = "SessionTracker dump:\n".to_owned();
    s.push_str(&format!(
        "Session Sets ({})/({}):\n",
        sets.len(),
        st.sessions.len()
    ));
    for (at, sids) in &sets {
        s.push_str(&format!("{} expire at {}:\n", sids.len(), java_date(*at)));
        for sid in sids {
            s.push_str(&format!("\t0x{sid:x}\n"));
        }
    }
    s.push_str("ephemeral nodes dump:\n");
    s.push_str(&format!(
        "Sessions with Ephemerals ({}):\n",
        st.ephemerals_by_session.len()
    ));
    for (sid, paths) in &st.ephemerals_by_session {
        s.push_str(&format!("0x{:x}:\n", sid.0));
        for p in paths {
            s.push_str(&format!("\t{p}\n"));
        }
    }
    s.push_str("Connections dump:\n");
    let n = alive_connections(ctx);
    s.push_str(&format!("Connections Sets (1)/({n}):\n"));
    s.push_str(&format!(
        "{n} expire at {}:\n",
        java_date(bucket(ctx.now_ms + tick))
    ));
    for c in &st.connections {
        s.push_str(&format!(
            "\tip: {} sessionId: 0x{:x}\n",
            remote_text(&c.remote),
            c.session.0
        ));
    }
    s.push_str(&format!(
        "\tip: {} sessionId: 0x0\n",
        java_addr(ctx.own_remote)
    ));
    s
}

/// (open, max) file descriptors of this process, where the OS tells (Linux).
fn fd_counts() -> Option<(u64, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let max = line.split_whitespace().nth(3)?.parse().ok()?;
    Some((open, max))
}

fn mntr(ctx: &Context<'_>) -> String {
    let st = ctx.stats;
    let mut rows: Vec<(&str, String)> = vec![
        ("version", full_version()),
        (
            "server_state",
            if st.mode.is_empty() {
                "standalone"
            } else {
                st.mode
            }
            .into(),
        ),
        ("avg_latency", avg(st.avg_latency_ms)),
        ("max_latency", st.max_latency_ms.to_string()),
        ("min_latency", st.min_latency_ms.to_string()),
        ("packets_received", st.packets_received.to_string()),
        ("packets_sent", st.packets_sent.to_string()),
        ("num_alive_connections", alive_connections(ctx).to_string()),
        ("outstanding_requests", st.outstanding_requests.to_string()),
        ("znode_count", st.node_count.to_string()),
        ("watch_count", st.total_watches.to_string()),
        ("ephemerals_count", st.ephemerals_count.to_string()),
        (
            "approximate_data_size",
            st.approximate_data_size.to_string(),
        ),
        ("global_sessions", st.sessions.len().to_string()),
        ("local_sessions", "0".into()),
        ("uptime", ctx.uptime_ms.to_string()),
        ("data_dir_size", ctx.data_dir_size.to_string()),
        ("log_dir_size", ctx.log_dir_size.to_string()),
    ];
    if let Some((open, max)) = fd_counts() {
        rows.push(("open_file_descriptor_count", open.to_string()));
        rows.push(("max_file_descriptor_count", max.to_string()));
    }
    rows.iter().map(|(k, v)| format!("zk_{k}\t{v}\n")).collect()
}

#[cfg(test)]
mod tests;
