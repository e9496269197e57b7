//! The server configuration, read from ZooKeeper's `zoo.cfg`.
//!
//! Keys follow ZooKeeper 3.8 (`QuorumPeerConfig` plus the system properties that zoo.cfg
//! may carry, with or without their `zookeeper.` prefix). Unknown keys are a warning; a
//! malformed value is an error naming key, value and line. The quorum keys (`server.N`,
//! `initLimit`, `syncLimit`, `myid`...) are read by `quorum`: a config listing two or more
//! servers (or one, with `standaloneEnabled=false`) yields an [`EnsembleConfig`].

mod properties;
mod quorum;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use corral_core::server::ServerConfig;
use corral_core::zab::replica::ReplicaConfig;

use crate::fourlw::COMMANDS;
pub use quorum::{myid_path, EnsembleConfig, PeerAddr, MAX_SERVER_ID, MAX_SERVER_ID_EXTENDED};

/// tickTime when zoo.cfg does not set it (ZooKeeper's `DEFAULT_TICK_TIME`).
pub const ZOOCFG_DEFAULT_TICK_MS: i64 = 3000;
/// tickTime when no zoo.cfg is given at all (the sample config's value).
pub const NO_CONFIG_TICK_MS: i64 = 2000;
/// Client port when none is configured.
pub const DEFAULT_CLIENT_PORT: u16 = 2181;

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: bad value {value:?} for {key}: {reason}")]
    BadValue {
        line: usize,
        key: String,
        value: String,
        reason: String,
    },
    #[error("minSessionTimeout ({min} ms) must not be larger than maxSessionTimeout ({max} ms)")]
    SessionTimeouts { min: i64, max: i64 },
    #[error(
        "line {line}: {key}: observers are not supported yet; make it a participant or \
         remove it"
    )]
    ObserverNotSupported { line: usize, key: String },
    #[error("cannot use myid file {path}: {reason}")]
    MyId { path: PathBuf, reason: String },
    #[error("myid {id} (from {path}) is not among the server.N lines (ids {listed})")]
    MyIdNotListed {
        id: u64,
        path: PathBuf,
        listed: String,
    },
    #[error("{0}")]
    Ensemble(String),
    #[error("cannot resolve client address {addr:?}: {reason}")]
    Resolve { addr: String, reason: String },
}

/// Which four-letter words may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whitelist(BTreeSet<String>);

impl Whitelist {
    /// ZooKeeper's default since 3.5.3: only `srvr`.
    pub fn default_set() -> Whitelist {
        Whitelist(BTreeSet::from(["srvr".to_owned()]))
    }

    /// From `4lw.commands.whitelist`: comma list, `*` for all; `srvr` is always added
    /// (zkServer.sh needs it), as ZooKeeper does.
    pub fn parse(list: &str) -> Whitelist {
        let mut set = BTreeSet::from(["srvr".to_owned()]);
        for item in list.split(',').map(str::trim) {
            if item == "*" {
                set.extend(COMMANDS.iter().map(|c| (*c).to_owned()));
                break;
            }
            if !item.is_empty() {
                set.insert(item.to_owned());
            }
        }
        Whitelist(set)
    }

    /// Whether `cmd` may run.
    pub fn allows(&self, cmd: &str) -> bool {
        self.0.contains(cmd)
    }
}

/// Everything the shell needs to run a server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Settings handed to the core state machine.
    pub server: ServerConfig,
    /// Where clients connect (`clientPortAddress`:`clientPort`).
    pub client_addr: SocketAddr,
    /// `dataDir` (snapshots, the lock file).
    pub data_dir: PathBuf,
    /// `dataLogDir` (the transaction log); defaults to `dataDir`.
    pub data_log_dir: PathBuf,
    /// `4lw.commands.whitelist`.
    pub whitelist: Whitelist,
    /// `autopurge.snapRetainCount` (at least 3).
    pub snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 = never purge.
    pub purge_interval_hours: u32,
    /// `preAllocSize` in KiB.
    pub pre_alloc_size_kb: u64,
    /// `forceSync`: fsync the log before replying. `no` is unsafe.
    pub force_sync: bool,
    /// The file this came from, if any.
    pub source: Option<PathBuf>,
    /// Replicated mode: the ensemble and this server's place in it. `None` runs standalone.
    pub ensemble: Option<EnsembleConfig>,
}

impl Default for Config {
    /// The configuration used when no zoo.cfg is given: standalone on 127.0.0.1:2181, data
    /// under ./corral-data, tickTime 2000.
    fn default() -> Self {
        let mut server = ServerConfig::default();
        set_tick(&mut server, NO_CONFIG_TICK_MS);
        Config {
            server,
            client_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_CLIENT_PORT),
            data_dir: PathBuf::from("./corral-data"),
            data_log_dir: PathBuf::from("./corral-data"),
            whitelist: Whitelist::default_set(),
            snap_retain_count: 3,
            // Only the no-config server: purge after each snapshot, so the README's first
            // command never fills a disk. A zoo.cfg gets ZooKeeper's default (0, off).
            purge_interval_hours: 1,
            pre_alloc_size_kb: 65_536,
            force_sync: true,
            source: None,
            ensemble: None,
        }
    }
}

fn set_tick(server: &mut ServerConfig, tick_ms: i64) {
    server.tick_time_ms = tick_ms;
    server.min_session_timeout_ms = 2 * tick_ms;
    server.max_session_timeout_ms = 20 * tick_ms;
}

/// A parsed config plus the warnings it produced (unknown keys, ignored settings).
#[derive(Debug)]
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    /// Read and parse a zoo.cfg file, logging its warnings.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut parsed = Config::parse(&text)?;
        for w in &parsed.warnings {
            tracing::warn!("{}: {w}", path.display());
        }
        parsed.config.source = Some(path.to_owned());
        Ok(parsed.config)
    }

    /// Parse zoo.cfg text. Keys missing from the text take ZooKeeper's defaults (tickTime
    /// 3000, clientPort 2181 on all interfaces), except dataDir (./corral-data).
    ///
    /// With `server.N` lines the server id is read from `dataDir/myid`, as ZooKeeper does.
    pub fn parse(text: &str) -> Result<Parsed, ConfigError> {
        Config::parse_with(text, &|path| std::fs::read_to_string(path))
    }

    /// `parse`, reading the myid file through `read_myid` (tests supply their own).
    pub fn parse_with(
        text: &str,
        read_myid: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Parsed, ConfigError> {
        let mut b = Builder::default();
        for p in properties::parse(text) {
            b.apply(&p)?;
        }
        b.finish(read_myid)
    }

    /// The ZAB engine's settings (members, tickTime, initLimit, syncLimit), in replicated
    /// mode.
    pub fn replica_config(&self) -> Option<ReplicaConfig> {
        let tick_ms = self.server.tick_time_ms;
        self.ensemble.as_ref().map(|e| e.replica_config(tick_ms))
    }
}

#[derive(Default)]
struct Builder {
    server: ServerConfig,
    tick: Option<i64>,
    min_timeout: Option<i64>,
    max_timeout: Option<i64>,
    client_port: Option<u16>,
    client_host: Option<String>,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    whitelist: Option<Whitelist>,
    snap_retain_count: Option<u32>,
    purge_interval_hours: Option<u32>,
    snap_count: Option<u64>,
    pre_alloc_size_kb: Option<u64>,
    force_sync: Option<bool>,
    quorum: quorum::QuorumKeys,
    warnings: Vec<String>,
}

fn bad(p: &properties::Property, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        line: p.line,
        key: p.key.clone(),
        value: p.value.clone(),
        reason: reason.into(),
    }
}

fn int<T: TryFrom<i64>>(p: &properties::Property, min: i64) -> Result<T, ConfigError> {
    let v: i64 = p.value.parse().map_err(|_| bad(p, "not an integer"))?;
    if v < min {
        return Err(bad(p, format!("must be at least {min}")));
    }
    T::try_from(v).map_err(|_| bad(p, "out of range"))
}

/// Java's `Integer.decode` style: decimal or `0x` hex (jute.maxbuffer is often hex).
fn int_or_hex(p: &properties::Property) -> Result<i64, ConfigError> {
    let v = p.value.as_str();
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| bad(p, "not an integer"))
}

fn boolean(p: &properties::Property) -> Result<bool, ConfigError> {
    match p.value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad(p, "expected true/false or yes/no")),
    }
}

impl Builder {
    fn apply(&mut self, p: &properties::Property) -> Result<(), ConfigError> {
        // zoo.cfg keys that ZooKeeper does not know itself become `zookeeper.<key>` system
        // properties, so both spellings reach the same setting.
        let key = p.key.strip_prefix("zookeeper.").unwrap_or(&p.key);
        match key {
            "tickTime" => self.tick = Some(int(p, 1)?),
            "dataDir" => self.data_dir = Some(PathBuf::from(&p.value)),
            "dataLogDir" => self.data_log_dir = Some(PathBuf::from(&p.value)),
            "clientPort" => self.client_port = Some(int(p, 1)?),
            "clientPortAddress" => {
                if p.value.is_empty() {
                    return Err(bad(p, "empty address"));
                }
                self.client_host = Some(p.value.clone());
            }
            "maxClientCnxns" => self.server.max_client_cnxns = int(p, 0)?,
            "minSessionTimeout" => self.min_timeout = Some(int(p, -1)?),
            "maxSessionTimeout" => self.max_timeout = Some(int(p, -1)?),
            "autopurge.snapRetainCount" => {
                let n: u32 = int(p, 0)?;
                if n < 3 {
                    self.warnings.push(format!(
                        "line {}: autopurge.snapRetainCount {n} is below the minimum; using 3",
                        p.line
                    ));
                }
                self.snap_retain_count = Some(n.max(3));
            }
            "autopurge.purgeInterval" => self.purge_interval_hours = Some(int(p, 0)?),
            "4lw.commands.whitelist" => self.whitelist = Some(Whitelist::parse(&p.value)),
            "jute.maxbuffer" => {
                let v = int_or_hex(p)?;
                if v <= 0 || v > i32::MAX as i64 {
                    return Err(bad(p, "must be between 1 and 2147483647"));
                }
                self.server.max_buffer = v as usize;
            }
            "extendedTypesEnabled" => self.server.extended_types_enabled = boolean(p)?,
            "znode.container.checkIntervalMs" => {
                self.server.container_check_interval_ms = int(p, 1)?
            }
            "znode.container.maxPerMinute" => self.server.container_max_per_minute = int(p, 1)?,
            "znode.container.maxNeverUsedIntervalMs" => {
                self.server.container_max_never_used_ms = int(p, 0)?
            }
            "DigestAuthenticationProvider.superDigest" => {
                if !p.value.contains(':') {
                    return Err(bad(p, "expected super:<base64 sha1 digest>"));
                }
                self.server.super_digest = Some(p.value.clone());
            }
            "skipACL" => self.server.skip_acl = boolean(p)?,
            "globalOutstandingLimit" => self.server.global_outstanding_limit = int(p, 1)?,
            "snapCount" => {
                let n: u64 = int(p, 0)?;
                self.snap_count = Some(n.max(2));
            }
            "preAllocSize" => self.pre_alloc_size_kb = Some(int(p, 1)?),
            "forceSync" => {
                let v = boolean(p)?;
                if !v {
                    self.warnings.push(format!(
                        "line {}: forceSync=no: replies may be sent before writes are durable",
                        p.line
                    ));
                }
                self.force_sync = Some(v);
            }
            "admin.enableServer" | "admin.serverPort" | "admin.serverAddress" => {
                tracing::debug!("{} ignored: Corral has no AdminServer", p.key);
            }
            _ => {
                if !self.quorum.apply(key, p, &mut self.warnings)? {
                    self.warnings
                        .push(format!("line {}: unknown key {} ignored", p.line, p.key));
                }
            }
        }
        Ok(())
    }

    fn finish(
        mut self,
        read_myid: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Parsed, ConfigError> {
        let tick = self.tick.unwrap_or(ZOOCFG_DEFAULT_TICK_MS);
        set_tick(&mut self.server, tick);
        // -1 (or absent) means "derive from tickTime".
        if let Some(min) = self.min_timeout.filter(|&v| v != -1) {
            self.server.min_session_timeout_ms = min;
        }
        if let Some(max) = self.max_timeout.filter(|&v| v != -1) {
            self.server.max_session_timeout_ms = max;
        }
        let (min, max) = (
            self.server.min_session_timeout_ms,
            self.server.max_session_timeout_ms,
        );
        if min > max {
            return Err(ConfigError::SessionTimeouts { min, max });
        }
        let port = self.client_port.unwrap_or(DEFAULT_CLIENT_PORT);
        let mut client_addr = match &self.client_host {
            // ZooKeeper listens on all interfaces unless clientPortAddress says otherwise.
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            Some(host) => resolve(host, port)?,
        };
        let defaults = Config::default();
        let data_dir = self.data_dir.unwrap_or(defaults.data_dir);
        let data_log_dir = self.data_log_dir.unwrap_or_else(|| data_dir.clone());
        let mut server = self.server;
        let quorum = std::mem::take(&mut self.quorum);
        let lines = quorum.lines();
        let ensemble = quorum.finish(
            &data_dir,
            read_myid,
            server.extended_types_enabled,
            &mut self.warnings,
        )?;
        if let Some(e) = &ensemble {
            server.server_id = e.my_id.0 as i64;
            if let Some(line_addr) = own_client_addr(e)? {
                let static_addr = self.client_port.map(|_| client_addr);
                check_client_addr(static_addr, line_addr, e, &lines)?;
                client_addr = line_addr;
            }
        }
        if let Some(n) = self.snap_count {
            server.snap_count = n;
        }
        // The snapshot thread merges each snapshot from the previous one and the changed
        // nodes (storage::compactor); the core only tracks them when asked.
        server.snapshot_deltas = true;
        let config = Config {
            server,
            client_addr,
            data_dir,
            data_log_dir,
            whitelist: self.whitelist.unwrap_or(defaults.whitelist),
            snap_retain_count: self.snap_retain_count.unwrap_or(defaults.snap_retain_count),
            purge_interval_hours: self.purge_interval_hours.unwrap_or(0),
            pre_alloc_size_kb: self.pre_alloc_size_kb.unwrap_or(defaults.pre_alloc_size_kb),
            force_sync: self.force_sync.unwrap_or(true),
            source: None,
            ensemble,
        };
        Ok(Parsed {
            config,
            warnings: self.warnings,
        })
    }
}

/// The client address on this server's own `server.N` line (`;[clientAddr:]clientPort`).
fn own_client_addr(e: &EnsembleConfig) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(me) = e.me() else {
        return Ok(None);
    };
    let Some(port) = me.client_port else {
        return Ok(None);
    };
    Ok(Some(match &me.client_host {
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        Some(h) => resolve(h, port)?,
    }))
}

/// ZooKeeper's `setupClientPort`: `clientPort`/`clientPortAddress` and the client part of
/// this server's line must agree (only the port, when the static address is a wildcard).
fn check_client_addr(
    static_addr: Option<SocketAddr>,
    line_addr: SocketAddr,
    e: &EnsembleConfig,
    lines: &std::collections::BTreeMap<corral_core::types::ServerId, (usize, String)>,
) -> Result<(), ConfigError> {
    let Some(st) = static_addr else {
        return Ok(());
    };
    let differs = if st.ip().is_unspecified() {
        st.port() != line_addr.port()
    } else {
        st != line_addr
    };
    if differs {
        let (line, key) = lines
            .get(&e.my_id)
            .map(|(l, k)| (*l, k.as_str()))
            .unwrap_or((0, "server.N"));
        return Err(ConfigError::Ensemble(format!(
            "the client address {st} (clientPort/clientPortAddress) differs from {line_addr} \
             on this server's line {line} ({key}); give it in one place or make them agree"
        )));
    }
    Ok(())
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let err = |reason: String| ConfigError::Resolve {
        addr: host.to_owned(),
        reason,
    };
    (bare, port)
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .next()
        .ok_or_else(|| err("no addresses".to_owned()))
}

#[cfg(test)]
mod quorum_tests;
#[cfg(test)]
mod tests;
