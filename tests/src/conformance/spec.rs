//! The scenario language: named connections, requests written as readable records, raw
//! bytes, and the per-step notes for deliberate differences. Everything here is serde so a
//! recorded vector carries the exact steps it was recorded from.

use corral_core::proto::data::{Acl, Id};
use corral_core::proto::request::{CreateRequest, SetWatches};
use corral_core::proto::{op, Request};
use corral_core::types::Zxid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A znode payload as written in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Data {
    /// UTF-8 text.
    Text(String),
    /// `len` copies of `fill` (for size limits).
    Fill { fill: u8, len: usize },
    /// Arbitrary bytes, hex encoded.
    Hex { hex: String },
}

impl Data {
    /// The bytes this payload stands for.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Data::Text(s) => s.as_bytes().to_vec(),
            Data::Fill { fill, len } => vec![*fill; *len],
            Data::Hex { hex } => decode_hex(hex).expect("catalogue hex is valid"),
        }
    }
}

/// One ACL entry as written in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclSpec {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

impl AclSpec {
    fn to_acl(&self) -> Acl {
        Acl {
            perms: self.perms,
            id: Id::new(&self.scheme, &self.id),
        }
    }
}

/// A zxid a request refers to. Absolute zxids differ between servers, so scenarios name
/// them through marks taken earlier in the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZxidRef {
    /// A literal value (0, or something far in the future).
    Literal(i64),
    /// The highest zxid seen in any reply header when the named `mark` step ran.
    Mark(String),
}

/// The body shared by every create flavour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSpec {
    pub path: String,
    /// `None` sends a null buffer.
    pub data: Option<Data>,
    /// `None` sends a null ACL vector.
    pub acl: Option<Vec<AclSpec>>,
    pub flags: i32,
    /// createTTL only (and also sent with other opcodes when set, to test validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// A request as written in a scenario; mirrors `corral_core::proto::Request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ReqSpec {
    Create(CreateSpec),
    Create2(CreateSpec),
    CreateContainer(CreateSpec),
    CreateTtl(CreateSpec),
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Data>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Option<Vec<AclSpec>>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    /// op 13. Outside a multi it is never sent to ZooKeeper 3.8.0 (it corrupts the log).
    Check {
        path: String,
        version: i32,
    },
    Multi {
        ops: Vec<ReqSpec>,
    },
    MultiRead {
        ops: Vec<ReqSpec>,
    },
    Auth {
        scheme: String,
        auth: String,
    },
    SetWatches {
        relative_zxid: ZxidRef,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    SetWatches2 {
        relative_zxid: ZxidRef,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        persistent: Vec<String>,
        persistent_recursive: Vec<String>,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    CheckWatches {
        path: String,
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    WhoAmI,
    CloseSession,
    Reconfig {
        joining: Option<String>,
        leaving: Option<String>,
        new_members: Option<String>,
        config_id: i64,
    },
}

fn acls(a: &Option<Vec<AclSpec>>) -> Option<Vec<Acl>> {
    a.as_ref().map(|v| v.iter().map(AclSpec::to_acl).collect())
}

fn create(op: i32, c: &CreateSpec) -> Request {
    Request::Create {
        op,
        req: CreateRequest {
            path: c.path.clone(),
            data: c.data.as_ref().map(Data::bytes),
            acl: acls(&c.acl),
            flags: c.flags,
            ttl: c.ttl,
        },
    }
}

impl ReqSpec {
    /// The opcode this request travels under.
    pub fn op(&self) -> i32 {
        match self {
            ReqSpec::Create(_) => op::CREATE,
            ReqSpec::Create2(_) => op::CREATE2,
            ReqSpec::CreateContainer(_) => op::CREATE_CONTAINER,
            ReqSpec::CreateTtl(_) => op::CREATE_TTL,
            ReqSpec::SetWatches { .. } => op::SET_WATCHES,
            ReqSpec::SetWatches2 { .. } => op::SET_WATCHES2,
            // The rest map one to one; build the request with a dummy resolver to ask it.
            other => other.to_request(&|_| 0).op(),
        }
    }

    /// Build the core request. `mark` resolves named zxid marks to absolute zxids.
    pub fn to_request(&self, mark: &dyn Fn(&str) -> i64) -> Request {
        let zxid = |z: &ZxidRef| match z {
            ZxidRef::Literal(v) => Zxid(*v),
            ZxidRef::Mark(name) => Zxid(mark(name)),
        };
        let s = |p: &str| p.to_owned();
        match self {
            ReqSpec::Create(c) => create(op::CREATE, c),
            ReqSpec::Create2(c) => create(op::CREATE2, c),
            ReqSpec::CreateContainer(c) => create(op::CREATE_CONTAINER, c),
            ReqSpec::CreateTtl(c) => create(op::CREATE_TTL, c),
            ReqSpec::Delete { path, version } => Request::Delete {
                path: s(path),
                version: *version,
            },
            ReqSpec::Exists { path, watch } => Request::Exists {
                path: s(path),
                watch: *watch,
            },
            ReqSpec::GetData { path, watch } => Request::GetData {
                path: s(path),
                watch: *watch,
            },
            ReqSpec::SetData {
                path,
                data,
                version,
            } => Request::SetData {
                path: s(path),
                data: data.as_ref().map(Data::bytes),
                version: *version,
            },
            ReqSpec::GetAcl { path } => Request::GetAcl { path: s(path) },
            ReqSpec::SetAcl { path, acl, version } => Request::SetAcl {
                path: s(path),
                acl: acls(acl),
                version: *version,
            },
            ReqSpec::GetChildren { path, watch } => Request::GetChildren {
                path: s(path),
                watch: *watch,
            },
            ReqSpec::GetChildren2 { path, watch } => Request::GetChildren2 {
                path: s(path),
                watch: *watch,
            },
            ReqSpec::Sync { path } => Request::Sync { path: s(path) },
            ReqSpec::Ping => Request::Ping,
            ReqSpec::Check { path, version } => Request::Check {
                path: s(path),
                version: *version,
            },
            ReqSpec::Multi { ops } => {
                Request::Multi(ops.iter().map(|o| o.to_request(mark)).collect())
            }
            ReqSpec::MultiRead { ops } => {
                Request::MultiRead(ops.iter().map(|o| o.to_request(mark)).collect())
            }
            ReqSpec::Auth { scheme, auth } => Request::Auth {
                auth_type: 0,
                scheme: s(scheme),
                auth: auth.as_bytes().to_vec(),
            },
            ReqSpec::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => Request::SetWatches {
                v2: false,
                watches: SetWatches {
                    relative_zxid: zxid(relative_zxid),
                    data: data.clone(),
                    exist: exist.clone(),
                    child: child.clone(),
                    ..SetWatches::default()
                },
            },
            ReqSpec::SetWatches2 {
                relative_zxid,
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
            } => Request::SetWatches {
                v2: true,
                watches: SetWatches {
                    relative_zxid: zxid(relative_zxid),
                    data: data.clone(),
                    exist: exist.clone(),
                    child: child.clone(),
                    persistent: persistent.clone(),
                    persistent_recursive: persistent_recursive.clone(),
                },
            },
            ReqSpec::AddWatch { path, mode } => Request::AddWatch {
                path: s(path),
                mode: *mode,
            },
            ReqSpec::CheckWatches { path, watcher_type } => Request::CheckWatches {
                path: s(path),
                watcher_type: *watcher_type,
            },
            ReqSpec::RemoveWatches { path, watcher_type } => Request::RemoveWatches {
                path: s(path),
                watcher_type: *watcher_type,
            },
            ReqSpec::GetEphemerals { prefix } => Request::GetEphemerals { prefix: s(prefix) },
            ReqSpec::GetAllChildrenNumber { path } => {
                Request::GetAllChildrenNumber { path: s(path) }
            }
            ReqSpec::WhoAmI => Request::WhoAmI,
            ReqSpec::CloseSession => Request::CloseSession,
            ReqSpec::Reconfig {
                joining,
                leaving,
                new_members,
                config_id,
            } => Request::Reconfig {
                joining: joining.clone(),
                leaving: leaving.clone(),
                new_members: new_members.clone(),
                config_id: *config_id,
            },
        }
    }

    /// The xid a real client would use when the scenario does not choose one: -2 for
    /// pings, -4 for auth, otherwise the connection's next counter value (`None`).
    pub fn default_xid(&self) -> Option<i32> {
        match self {
            ReqSpec::Ping => Some(op::XID_PING),
            ReqSpec::Auth { .. } => Some(op::XID_AUTH),
            _ => None,
        }
    }

    /// True for creates of containers and TTL nodes, which the server reaps on a timer.
    pub fn makes_reapable_node(&self) -> bool {
        match self {
            ReqSpec::CreateContainer(_) | ReqSpec::CreateTtl(_) => true,
            ReqSpec::Create(c) | ReqSpec::Create2(c) => matches!(c.flags, 4..=6),
            ReqSpec::Multi { ops } => ops.iter().any(ReqSpec::makes_reapable_node),
            _ => false,
        }
    }
}

/// How a connection introduces itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectSpec {
    /// Requested session timeout (ms).
    pub timeout_ms: i32,
    /// Resume the session last established by this connection name (id + password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// With `resume`: send a corrupted password.
    #[serde(default, skip_serializing_if = "is_false")]
    pub wrong_password: bool,
    /// Ask to resume a session id that was never issued.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unknown_session: bool,
    /// `None` omits the trailing readOnly byte (a 3.3-era client).
    pub read_only: Option<bool>,
    pub last_zxid_seen: ZxidRef,
    /// Do not wait for the ConnectResponse; the next read on this connection picks it up.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_wait: bool,
}

/// A raw frame whose reply, if one is expected, is decoded as `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawReply {
    pub xid: i32,
    pub op: i32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Open a TCP connection and send a ConnectRequest.
    Connect {
        conn: String,
        #[serde(flatten)]
        spec: ConnectSpec,
    },
    /// Send a request and (unless `no_wait`) read frames until its reply.
    Request {
        conn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        xid: Option<i32>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_wait: bool,
        request: ReqSpec,
    },
    /// Open a TCP connection without sending anything (for hand-made handshakes).
    Open { conn: String },
    /// Send bytes exactly as given. With `reply`, register that xid/op as outstanding and
    /// (unless `no_wait`) read until its reply; with `expect_connect`, read a
    /// ConnectResponse.
    Raw {
        conn: String,
        hex: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<RawReply>,
        #[serde(default, skip_serializing_if = "is_false")]
        expect_connect: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        no_wait: bool,
    },
    /// Read whatever notifications are pending: wait up to `wait_ms` for `min_events`
    /// notifications, then send a ping and read until its reply.
    ReadEvents {
        conn: String,
        #[serde(default)]
        wait_ms: u64,
        #[serde(default)]
        min_events: usize,
    },
    /// Read until the server closes the connection (bounded).
    ExpectClosed { conn: String },
    /// Close the TCP connection from our side (no closeSession).
    Close { conn: String },
    /// Remember the highest zxid seen so far under a name (for setWatches/lastZxidSeen).
    Mark { name: String },
}

impl Step {
    /// The connection the step acts on, if any.
    pub fn conn(&self) -> Option<&str> {
        match self {
            Step::Connect { conn, .. }
            | Step::Open { conn }
            | Step::Request { conn, .. }
            | Step::Raw { conn, .. }
            | Step::ReadEvents { conn, .. }
            | Step::ExpectClosed { conn }
            | Step::Close { conn } => Some(conn),
            Step::Mark { .. } => None,
        }
    }

    /// A one-line label for reports.
    pub fn label(&self) -> String {
        match self {
            Step::Connect { conn, .. } => format!("connect {conn}"),
            Step::Open { conn } => format!("open {conn}"),
            Step::Request { conn, request, .. } => {
                let v = serde_json::to_value(request).unwrap_or(Value::Null);
                let name = v["op"].as_str().unwrap_or("?").to_owned();
                match request.to_request(&|_| 0).path() {
                    Some(p) => format!("{conn}: {name} {p:?}"),
                    None => format!("{conn}: {name}"),
                }
            }
            Step::Raw { conn, hex, .. } => format!("{conn}: raw {} bytes", hex.len() / 2),
            Step::ReadEvents { conn, .. } => format!("{conn}: read events"),
            Step::ExpectClosed { conn } => format!("{conn}: expect closed"),
            Step::Close { conn } => format!("{conn}: close"),
            Step::Mark { name } => format!("mark {name}"),
        }
    }
}

/// A JSON-pointer replacement applied to a recorded outcome to get Corral's expected one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// RFC 6901 pointer into the step's list of received items, e.g. `/0/reply/err`.
    pub pointer: String,
    pub value: Value,
}

/// What Corral deliberately answers differently from ZooKeeper 3.8.0 for one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorralExpect {
    /// Why Corral differs (a reference section or bug id).
    pub why: String,
    /// Replace the whole expected outcome (used when the step is never sent to ZooKeeper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<Vec<Value>>,
    /// Or patch fields of the recorded outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<Patch>,
}

/// A step plus its conformance annotations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    #[serde(flatten)]
    pub step: Step,
    /// Never executed against ZooKeeper (its recorded outcome is null).
    #[serde(default, skip_serializing_if = "is_false")]
    pub zk_skip: bool,
    /// Corral's deliberate difference for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corral: Option<CorralExpect>,
}

/// A named scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The znode subtree the scenario owns; the runner removes it afterwards.
    pub root: Option<String>,
    /// Present when the scenario contains a deliberate difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_difference: Option<String>,
    /// The outcome depends on server-global state (the root znode's counters), so the
    /// scenario must run in catalogue order on a fresh server.
    #[serde(default, skip_serializing_if = "is_false")]
    pub order_dependent: bool,
    pub steps: Vec<StepSpec>,
}

impl Scenario {
    /// True when the scenario creates containers or TTL nodes, whose reaper runs on a
    /// timer and could otherwise add a transaction in the middle of the next scenario.
    pub fn needs_settle(&self) -> bool {
        self.steps.iter().any(|s| match &s.step {
            Step::Request { request, .. } => request.makes_reapable_node(),
            _ => false,
        })
    }
}

/// Hex without separators.
pub fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Inverse of [`encode_hex`]; spaces are ignored so catalogue hex can be grouped.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let pairs = s.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}
