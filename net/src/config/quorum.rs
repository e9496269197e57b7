//! The quorum half of zoo.cfg: `server.N` lines, `initLimit`, `syncLimit`,
//! `standaloneEnabled`, `quorumListenOnAllIPs`, and the `myid` file in `dataDir`.
//!
//! Forms and rules follow ZooKeeper 3.8 (`QuorumPeerConfig`, `QuorumPeer.QuorumServer`):
//! `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]`,
//! hosts may be bracketed IPv6 literals, the two ports must differ, and a single server line
//! with `standaloneEnabled` true (the default) still means standalone. Corral is stricter
//! where ZooKeeper would run with a configuration it cannot honour: observers, several
//! addresses per server (`|`), hierarchical quorums and dynamic config files are errors,
//! not silently different behaviour.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use corral_core::types::ServerId;
use corral_core::zab::replica::ReplicaConfig;

use super::properties::Property;
use super::{bad, resolve, ConfigError};

/// Largest server id. A session id carries its server's id in its top byte (ZooKeeper's
/// `(sid << 56)`), so ids above 255 would hand out colliding session ids; ZooKeeper's
/// documentation asks for 1..=255 too.
pub const MAX_SERVER_ID: u64 = 255;
/// Largest id with `extendedTypesEnabled`: TTL nodes mark their owner with 0xFF in that
/// byte (ZooKeeper's `EphemeralType.validateServerId`).
pub const MAX_SERVER_ID_EXTENDED: u64 = 254;

/// One server of the ensemble, from its `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// Host name or IP literal (IPv6 without its brackets), resolved when dialling.
    pub host: String,
    /// The second field: Corral's peer links connect here.
    pub quorum_port: u16,
    /// The third field: accepted for compatibility, never bound (Corral carries election
    /// notifications on the quorum link).
    pub election_port: u16,
    /// `;[clientAddr:]clientPort`, if given: the host part, if any.
    pub client_host: Option<String>,
    /// `;[clientAddr:]clientPort`, if given: the port.
    pub client_port: Option<u16>,
}

/// The replicated-mode settings: present only when this server runs as an ensemble member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsembleConfig {
    /// This server's id, from `dataDir/myid`.
    pub my_id: ServerId,
    /// Every voting member, this server included.
    pub peers: BTreeMap<ServerId, PeerAddr>,
    /// `initLimit`, in ticks.
    pub init_limit: u32,
    /// `syncLimit`, in ticks.
    pub sync_limit: u32,
    /// `quorumListenOnAllIPs`: bind the peer port on every interface rather than on this
    /// server's own host.
    pub quorum_listen_on_all_ips: bool,
}

impl EnsembleConfig {
    /// This server's own line (always there in a config that zoo.cfg produced).
    pub fn me(&self) -> Option<&PeerAddr> {
        self.peers.get(&self.my_id)
    }

    /// The ZAB engine's settings for these members with `tick_ms` (zoo.cfg `tickTime`);
    /// Corral's own knobs keep `ReplicaConfig::new`'s defaults.
    pub fn replica_config(&self, tick_ms: i64) -> ReplicaConfig {
        let mut r = ReplicaConfig::new(self.my_id, self.peers.keys().copied());
        r.tick_ms = tick_ms;
        r.init_limit = self.init_limit;
        r.sync_limit = self.sync_limit;
        r
    }

    /// Where this server listens for peer links: its quorum port, on its own host's
    /// address, or on every interface with `quorumListenOnAllIPs`.
    pub fn peer_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let me = self.me().ok_or_else(|| {
            ConfigError::Ensemble(format!("server {} is not among the members", self.my_id))
        })?;
        if self.quorum_listen_on_all_ips {
            let any = match me.host.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            return Ok(SocketAddr::new(any, me.quorum_port));
        }
        resolve(&me.host, me.quorum_port)
    }
}

/// A parsed `server.N` line and where it was.
#[derive(Clone, Debug)]
struct ServerLine {
    line: usize,
    key: String,
    addr: PeerAddr,
}

/// The quorum keys as read, before `finish` decides between standalone and ensemble.
#[derive(Default)]
pub(super) struct QuorumKeys {
    servers: BTreeMap<ServerId, ServerLine>,
    init_limit: Option<u32>,
    sync_limit: Option<u32>,
    standalone_enabled: Option<bool>,
    quorum_listen_on_all_ips: bool,
}

/// The parse of a server id: `server.N`'s N or the content of `myid`.
fn server_id(text: &str) -> Result<ServerId, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=MAX_SERVER_ID).contains(&n) => Ok(ServerId(n)),
        _ => Err(format!(
            "server ids are integers from 1 to {MAX_SERVER_ID} (a session id carries its \
             server's id in one byte)"
        )),
    }
}

/// Split `host:rest` where host may be a bracketed IPv6 literal; returns the host (without
/// brackets) and the text after the separating colon, if any.
fn split_host(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (host, rest) = inner
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in {s:?}"))?;
        return match rest {
            "" => Ok((host, None)),
            r => match r.strip_prefix(':') {
                Some(after) => Ok((host, Some(after))),
                None => Err(format!("expected ':' after ']' in {s:?}")),
            },
        };
    }
    Ok(match s.split_once(':') {
        Some((h, r)) => (h, Some(r)),
        None => (s, None),
    })
}

fn port(field: &str, what: &str) -> Result<u16, String> {
    match field.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} {field:?} is not a port number (1-65535)")),
    }
}

const SERVER_FORM: &str =
    "expected host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]";

impl QuorumKeys {
    /// Take one quorum key; false if `key` is not one.
    pub(super) fn apply(
        &mut self,
        key: &str,
        p: &Property,
        warnings: &mut Vec<String>,
    ) -> Result<bool, ConfigError> {
        match key {
            "initLimit" => self.init_limit = Some(super::int(p, 1)?),
            "syncLimit" => self.sync_limit = Some(super::int(p, 1)?),
            "electionAlg" => {
                let alg: i64 = super::int(p, i64::MIN)?;
                if alg != 3 {
                    return Err(bad(
                        p,
                        "only 3 (fast leader election) is supported, as in ZooKeeper 3.8",
                    ));
                }
            }
            "peerType" => match p.value.to_ascii_lowercase().as_str() {
                "participant" => {}
                "observer" => return Err(observer(p)),
                _ => return Err(bad(p, "expected participant or observer")),
            },
            "standaloneEnabled" => self.standalone_enabled = Some(super::boolean(p)?),
            "quorumListenOnAllIPs" => self.quorum_listen_on_all_ips = super::boolean(p)?,
            "dynamicConfigFile" => {
                return Err(bad(
                    p,
                    "dynamic configuration files are not supported; list the server.N \
                     lines in zoo.cfg",
                ))
            }
            k if k.starts_with("group.") || k.starts_with("weight.") => {
                return Err(bad(
                    p,
                    "hierarchical quorums (group.N/weight.N) are not supported; Corral \
                     uses majority quorums",
                ))
            }
            k if k.starts_with("server.") => {
                self.server_line(p, &k["server.".len()..], warnings)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn server_line(
        &mut self,
        p: &Property,
        id_text: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let id = server_id(id_text).map_err(|r| bad(p, format!("bad id in {}: {r}", p.key)))?;
        let addr = parse_server_value(p)?;
        if let Some(old) = self.servers.get(&id) {
            // java.util.Properties keeps the last; say so, since it is rarely meant.
            warnings.push(format!(
                "line {}: {} repeats line {}; the later line counts",
                p.line, p.key, old.line
            ));
        }
        self.servers.insert(
            id,
            ServerLine {
                line: p.line,
                key: p.key.clone(),
                addr,
            },
        );
        Ok(())
    }

    /// Decide standalone (`None`) or ensemble, reading `dataDir/myid` for an ensemble.
    pub(super) fn finish(
        self,
        data_dir: &Path,
        read_myid: &dyn Fn(&Path) -> std::io::Result<String>,
        extended_types: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<EnsembleConfig>, ConfigError> {
        let standalone_enabled = self.standalone_enabled.unwrap_or(true);
        match self.servers.len() {
            0 if !standalone_enabled => {
                return Err(ConfigError::Ensemble(
                    "standaloneEnabled=false needs at least one server.N line".to_owned(),
                ))
            }
            0 => return Ok(None),
            1 if standalone_enabled => {
                let only = self.servers.values().next().map_or(0, |s| s.line);
                warnings.push(format!(
                    "line {only}: only one server.N line and standaloneEnabled is true: \
                     running standalone and ignoring it (as ZooKeeper does)"
                ));
                return Ok(None);
            }
            2 => warnings.push(
                "two servers tolerate no failure (either one stopping stops the ensemble); \
                 use at least 3"
                    .to_owned(),
            ),
            n if n % 2 == 0 => warnings.push(format!(
                "{n} servers tolerate no more failures than {}; an odd number is better",
                n - 1
            )),
            _ => {}
        }
        check_distinct_addresses(&self.servers)?;
        let missing = |key: &str| {
            ConfigError::Ensemble(format!(
                "{key} is not set; a config with server.N lines needs initLimit and syncLimit \
                 (in ticks)"
            ))
        };
        let init_limit = self.init_limit.ok_or_else(|| missing("initLimit"))?;
        let sync_limit = self.sync_limit.ok_or_else(|| missing("syncLimit"))?;
        let path = myid_path(data_dir);
        let my_id = read_myid_file(&path, read_myid, extended_types)?;
        if !self.servers.contains_key(&my_id) {
            let listed: Vec<String> = self.servers.keys().map(|id| id.to_string()).collect();
            return Err(ConfigError::MyIdNotListed {
                id: my_id.0,
                path,
                listed: listed.join(", "),
            });
        }
        Ok(Some(EnsembleConfig {
            my_id,
            peers: self
                .servers
                .into_iter()
                .map(|(id, s)| (id, s.addr))
                .collect(),
            init_limit,
            sync_limit,
            quorum_listen_on_all_ips: self.quorum_listen_on_all_ips,
        }))
    }

    /// Line number and key of every `server.N` entry (for error messages).
    pub(super) fn lines(&self) -> BTreeMap<ServerId, (usize, String)> {
        self.servers
            .iter()
            .map(|(id, s)| (*id, (s.line, s.key.clone())))
            .collect()
    }
}

fn observer(p: &Property) -> ConfigError {
    ConfigError::ObserverNotSupported {
        line: p.line,
        key: p.key.clone(),
    }
}

/// `host:quorumPort:electionPort[:type][;[clientAddr:]clientPort]`.
fn parse_server_value(p: &Property) -> Result<PeerAddr, ConfigError> {
    let value = p.value.as_str();
    if value.contains('|') {
        return Err(bad(
            p,
            "several addresses for one server ('|') are not supported",
        ));
    }
    let mut halves = value.split(';');
    let server = halves.next().unwrap_or_default().trim();
    let client = halves.next().map(str::trim);
    if halves.next().is_some() {
        return Err(bad(p, format!("more than one ';': {SERVER_FORM}")));
    }
    let (host, rest) = split_host(server).map_err(|r| bad(p, r))?;
    if host.is_empty() {
        return Err(bad(p, format!("empty host: {SERVER_FORM}")));
    }
    let fields: Vec<&str> = rest.map(|r| r.split(':').collect()).unwrap_or_default();
    if !(2..=3).contains(&fields.len()) {
        return Err(bad(p, SERVER_FORM));
    }
    let quorum_port = port(fields[0], "quorum port").map_err(|r| bad(p, r))?;
    let election_port = port(fields[1], "election port").map_err(|r| bad(p, r))?;
    if quorum_port == election_port {
        return Err(bad(p, "the quorum and election ports must differ"));
    }
    if let Some(kind) = fields.get(2) {
        match kind.to_ascii_lowercase().as_str() {
            "participant" => {}
            "observer" => return Err(observer(p)),
            _ => {
                return Err(bad(
                    p,
                    format!("unknown peer type {kind:?}: expected participant or observer"),
                ))
            }
        }
    }
    let (client_host, client_port) = match client {
        None => (None, None),
        Some(c) => {
            let (h, port_text) = parse_client(c).map_err(|r| bad(p, r))?;
            let cp = port(port_text, "client port").map_err(|r| bad(p, r))?;
            (h.map(str::to_owned), Some(cp))
        }
    };
    Ok(PeerAddr {
        host: host.to_owned(),
        quorum_port,
        election_port,
        client_host,
        client_port,
    })
}

/// `[clientAddr:]clientPort` (clientAddr possibly a bracketed IPv6 literal).
fn parse_client(c: &str) -> Result<(Option<&str>, &str), String> {
    if c.is_empty() {
        return Err(format!("nothing after ';': {SERVER_FORM}"));
    }
    if c.starts_with('[') {
        return match split_host(c)? {
            (h, Some(port)) if !h.is_empty() => Ok((Some(h), port)),
            _ => Err(format!("expected [address]:port after ';', got {c:?}")),
        };
    }
    match c.split_once(':') {
        None => Ok((None, c)),
        Some((h, port)) if !h.is_empty() && !port.contains(':') => Ok((Some(h), port)),
        Some(_) => Err(format!(
            "expected [clientAddr:]clientPort after ';', got {c:?} (bracket IPv6 addresses)"
        )),
    }
}

/// Two servers on one quorum address could never both be reached: refuse.
fn check_distinct_addresses(servers: &BTreeMap<ServerId, ServerLine>) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(&str, u16), &ServerLine> = BTreeMap::new();
    for s in servers.values() {
        let host = s.addr.host.as_str();
        for port in [s.addr.quorum_port, s.addr.election_port] {
            // A server's own two ports differ (checked per line), so a hit is another server.
            if let Some(other) = seen.insert((host, port), s) {
                return Err(ConfigError::Ensemble(format!(
                    "{} (line {}) and {} (line {}) both use {host} port {port}",
                    other.key, other.line, s.key, s.line
                )));
            }
        }
    }
    Ok(())
}

/// Read `dataDir/myid`: ASCII decimal, surrounding whitespace ignored.
fn read_myid_file(
    path: &Path,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
    extended_types: bool,
) -> Result<ServerId, ConfigError> {
    let err = |reason: String| ConfigError::MyId {
        path: path.to_owned(),
        reason,
    };
    let text = read(path).map_err(|e| {
        err(format!(
            "{e} (a config with server.N lines needs this server's id in dataDir/myid)"
        ))
    })?;
    let trimmed = text.trim();
    let id = server_id(trimmed).map_err(|r| err(format!("{trimmed:?} is not a server id: {r}")))?;
    if extended_types && id.0 > MAX_SERVER_ID_EXTENDED {
        return Err(err(format!(
            "id {id} is too large with extendedTypesEnabled (TTL nodes reserve 255); use 1 to \
             {MAX_SERVER_ID_EXTENDED}"
        )));
    }
    Ok(id)
}

/// The path of the myid file for `data_dir` (for callers that write one).
pub fn myid_path(data_dir: &Path) -> PathBuf {
    data_dir.join("myid")
}
