//! The scenario catalogue, grouped by the reference section it exercises
//! (`/work/shared/reference/zookeeper-compat.md`). Order matters only for scenarios marked
//! `order_dependent`, which come first.
//!
//! Rules for scenarios (the runner relies on them):
//! - Work under the scenario's own root (`/<name>`); the runner deletes it afterwards,
//!   authenticated as the [`CLEANUP_AUTH`] identities, so never lock a node against them.
//! - Never leave a container or TTL node to be reaped at an unpredictable moment during the
//!   scenario: wait for its deletion event, or keep it busy.
//! - Never send op 13 (`check`) outside a multi to ZooKeeper: mark such steps `zk_skip`.

mod acl;
mod badinput;
mod multi;
mod nodes;
mod ops;
mod paths;
mod sessions;
mod validation;
mod watches;

use serde_json::Value;

use super::spec::{
    AclSpec, ConnectSpec, CorralExpect, CreateSpec, Data, Patch, RawReply, ReqSpec, Scenario, Step,
    StepSpec, ZxidRef,
};

/// Digest identities the cleanup session authenticates as (`user:password`).
pub const CLEANUP_AUTH: &[&str] = &["alice:secret", "bob:hunter2"];
/// `digest` ACL id for alice:secret (`alice:BASE64(SHA1("alice:secret"))`).
pub const ALICE: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";
/// `digest` ACL id for bob:hunter2.
pub const BOB: &str = "bob:1Yu1ryCXOIF7lyFzbmQ5J+MJOZc=";

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    v.extend(nodes::order_dependent());
    v.extend(ops::all());
    v.extend(nodes::all());
    v.extend(validation::all());
    v.extend(paths::all());
    v.extend(watches::all());
    v.extend(acl::all());
    v.extend(multi::all());
    v.extend(sessions::all());
    v.extend(badinput::all());
    v
}

/// Builds one scenario.
pub struct B {
    sc: Scenario,
}

impl B {
    /// A scenario with its own root `/<name>`, connection `a` open and the root created.
    pub fn new(name: &str, description: &str) -> B {
        let mut b = B::bare(name, description);
        b.sc.root = Some(format!("/{name}"));
        b.connect("a");
        let root = b.p("");
        b.req("a", create(&root, "", 0));
        b
    }

    /// A scenario with no root and no steps yet.
    pub fn bare(name: &str, description: &str) -> B {
        B {
            sc: Scenario {
                name: name.to_owned(),
                description: description.to_owned(),
                root: None,
                expected_difference: None,
                order_dependent: false,
                steps: Vec::new(),
            },
        }
    }

    /// A path under the root (`""` is the root itself).
    pub fn p(&self, rel: &str) -> String {
        let root = self.sc.root.as_deref().unwrap_or("");
        if rel.is_empty() {
            root.to_owned()
        } else {
            format!("{root}/{rel}")
        }
    }

    fn push(&mut self, step: Step) -> &mut Self {
        self.sc.steps.push(StepSpec {
            step,
            zk_skip: false,
            corral: None,
        });
        self
    }

    /// Open `conn` with a new session (30 s, readOnly byte false).
    pub fn connect(&mut self, conn: &str) -> &mut Self {
        self.connect_with(conn, conn_spec())
    }

    pub fn connect_with(&mut self, conn: &str, spec: ConnectSpec) -> &mut Self {
        self.push(Step::Connect {
            conn: conn.to_owned(),
            spec,
        })
    }

    /// Send a request and read until its reply.
    pub fn req(&mut self, conn: &str, r: ReqSpec) -> &mut Self {
        self.push(Step::Request {
            conn: conn.to_owned(),
            xid: None,
            no_wait: false,
            request: r,
        })
    }

    /// Send a request with a chosen xid.
    pub fn req_xid(&mut self, conn: &str, xid: i32, r: ReqSpec) -> &mut Self {
        self.push(Step::Request {
            conn: conn.to_owned(),
            xid: Some(xid),
            no_wait: false,
            request: r,
        })
    }

    /// Send a request without reading (its reply is read by a later step).
    pub fn send(&mut self, conn: &str, r: ReqSpec) -> &mut Self {
        self.push(Step::Request {
            conn: conn.to_owned(),
            xid: None,
            no_wait: true,
            request: r,
        })
    }

    /// Send raw bytes; with `reply`, read until the reply for that xid (decoded as op).
    pub fn raw(&mut self, conn: &str, hex: &str, reply: Option<(i32, i32)>) -> &mut Self {
        self.push(Step::Raw {
            conn: conn.to_owned(),
            hex: hex.to_owned(),
            reply: reply.map(|(xid, op)| RawReply { xid, op }),
            expect_connect: false,
            no_wait: false,
        })
    }

    /// Open a TCP connection without a handshake.
    pub fn open_conn(&mut self, conn: &str) -> &mut Self {
        self.push(Step::Open {
            conn: conn.to_owned(),
        })
    }

    /// Send a hand-made handshake frame and read the ConnectResponse (if any).
    pub fn raw_connect(&mut self, conn: &str, hex: &str) -> &mut Self {
        self.push(Step::Raw {
            conn: conn.to_owned(),
            hex: hex.to_owned(),
            reply: None,
            expect_connect: true,
            no_wait: false,
        })
    }

    /// Read pending notifications (ping round trip).
    pub fn events(&mut self, conn: &str) -> &mut Self {
        self.events_wait(conn, 0, 0)
    }

    /// Wait up to `wait_ms` for `min` notifications, then a ping round trip.
    pub fn events_wait(&mut self, conn: &str, wait_ms: u64, min: usize) -> &mut Self {
        self.push(Step::ReadEvents {
            conn: conn.to_owned(),
            wait_ms,
            min_events: min,
        })
    }

    pub fn expect_closed(&mut self, conn: &str) -> &mut Self {
        self.push(Step::ExpectClosed {
            conn: conn.to_owned(),
        })
    }

    pub fn close(&mut self, conn: &str) -> &mut Self {
        self.push(Step::Close {
            conn: conn.to_owned(),
        })
    }

    pub fn mark(&mut self, name: &str) -> &mut Self {
        self.push(Step::Mark {
            name: name.to_owned(),
        })
    }

    /// The last step: Corral's expected outcome is the recording with these patches.
    pub fn corral_patch(&mut self, why: &str, patch: &[(&str, Value)]) -> &mut Self {
        let last = self.sc.steps.last_mut().expect("a step to annotate");
        last.corral = Some(CorralExpect {
            why: why.to_owned(),
            replace: None,
            patch: patch
                .iter()
                .map(|(p, v)| Patch {
                    pointer: (*p).to_owned(),
                    value: v.clone(),
                })
                .collect(),
        });
        self
    }

    /// The last step is never sent to ZooKeeper; Corral must answer `expected`.
    pub fn corral_only(&mut self, why: &str, expected: Vec<Value>) -> &mut Self {
        let last = self.sc.steps.last_mut().expect("a step to annotate");
        last.zk_skip = true;
        last.corral = Some(CorralExpect {
            why: why.to_owned(),
            replace: Some(expected),
            patch: Vec::new(),
        });
        self
    }

    /// The last step: Corral's expected outcome is `expected` (ZooKeeper still runs it).
    pub fn corral_replace(&mut self, why: &str, expected: Vec<Value>) -> &mut Self {
        let last = self.sc.steps.last_mut().expect("a step to annotate");
        last.corral = Some(CorralExpect {
            why: why.to_owned(),
            replace: Some(expected),
            patch: Vec::new(),
        });
        self
    }

    pub fn difference(&mut self, note: &str) -> &mut Self {
        self.sc.expected_difference = Some(note.to_owned());
        self
    }

    pub fn order_dependent(&mut self) -> &mut Self {
        self.sc.order_dependent = true;
        self
    }

    pub fn build(&mut self) -> Scenario {
        self.sc.clone()
    }
}

/// The default handshake: new session, 30 s, readOnly byte present and false.
pub fn conn_spec() -> ConnectSpec {
    ConnectSpec {
        timeout_ms: 30_000,
        resume: None,
        wrong_password: false,
        unknown_session: false,
        read_only: Some(false),
        last_zxid_seen: ZxidRef::Literal(0),
        no_wait: false,
    }
}

pub fn acl(perms: i32, scheme: &str, id: &str) -> AclSpec {
    AclSpec {
        perms,
        scheme: scheme.to_owned(),
        id: id.to_owned(),
    }
}

/// `world:anyone` with every permission.
pub fn open() -> Vec<AclSpec> {
    vec![acl(31, "world", "anyone")]
}

fn spec(path: &str, data: &str, acl: Option<Vec<AclSpec>>, flags: i32) -> CreateSpec {
    CreateSpec {
        path: path.to_owned(),
        data: Some(Data::Text(data.to_owned())),
        acl,
        flags,
        ttl: None,
    }
}

pub fn create(path: &str, data: &str, flags: i32) -> ReqSpec {
    ReqSpec::Create(spec(path, data, Some(open()), flags))
}

pub fn create_acl(path: &str, acl: Vec<AclSpec>, flags: i32) -> ReqSpec {
    ReqSpec::Create(spec(path, "", Some(acl), flags))
}

pub fn create2(path: &str, data: &str, flags: i32) -> ReqSpec {
    ReqSpec::Create2(spec(path, data, Some(open()), flags))
}

pub fn container(path: &str, flags: i32) -> ReqSpec {
    ReqSpec::CreateContainer(spec(path, "", Some(open()), flags))
}

pub fn ttl(path: &str, flags: i32, ttl: i64) -> ReqSpec {
    let mut s = spec(path, "", Some(open()), flags);
    s.ttl = Some(ttl);
    ReqSpec::CreateTtl(s)
}

pub fn delete(path: &str, version: i32) -> ReqSpec {
    ReqSpec::Delete {
        path: path.to_owned(),
        version,
    }
}

pub fn exists(path: &str, watch: bool) -> ReqSpec {
    ReqSpec::Exists {
        path: path.to_owned(),
        watch,
    }
}

pub fn get(path: &str, watch: bool) -> ReqSpec {
    ReqSpec::GetData {
        path: path.to_owned(),
        watch,
    }
}

pub fn set(path: &str, data: &str, version: i32) -> ReqSpec {
    ReqSpec::SetData {
        path: path.to_owned(),
        data: Some(Data::Text(data.to_owned())),
        version,
    }
}

pub fn get_acl(path: &str) -> ReqSpec {
    ReqSpec::GetAcl {
        path: path.to_owned(),
    }
}

pub fn set_acl(path: &str, acl: Vec<AclSpec>, version: i32) -> ReqSpec {
    ReqSpec::SetAcl {
        path: path.to_owned(),
        acl: Some(acl),
        version,
    }
}

pub fn children(path: &str, watch: bool) -> ReqSpec {
    ReqSpec::GetChildren {
        path: path.to_owned(),
        watch,
    }
}

pub fn children2(path: &str, watch: bool) -> ReqSpec {
    ReqSpec::GetChildren2 {
        path: path.to_owned(),
        watch,
    }
}

pub fn sync(path: &str) -> ReqSpec {
    ReqSpec::Sync {
        path: path.to_owned(),
    }
}

pub fn check(path: &str, version: i32) -> ReqSpec {
    ReqSpec::Check {
        path: path.to_owned(),
        version,
    }
}

pub fn multi(ops: Vec<ReqSpec>) -> ReqSpec {
    ReqSpec::Multi { ops }
}

pub fn multi_read(ops: Vec<ReqSpec>) -> ReqSpec {
    ReqSpec::MultiRead { ops }
}

pub fn auth(scheme: &str, credentials: &str) -> ReqSpec {
    ReqSpec::Auth {
        scheme: scheme.to_owned(),
        auth: credentials.to_owned(),
    }
}

pub fn digest(credentials: &str) -> ReqSpec {
    auth("digest", credentials)
}

pub fn add_watch(path: &str, mode: i32) -> ReqSpec {
    ReqSpec::AddWatch {
        path: path.to_owned(),
        mode,
    }
}

pub fn check_watches(path: &str, watcher_type: i32) -> ReqSpec {
    ReqSpec::CheckWatches {
        path: path.to_owned(),
        watcher_type,
    }
}

pub fn remove_watches(path: &str, watcher_type: i32) -> ReqSpec {
    ReqSpec::RemoveWatches {
        path: path.to_owned(),
        watcher_type,
    }
}

pub fn ephemerals(prefix: &str) -> ReqSpec {
    ReqSpec::GetEphemerals {
        prefix: prefix.to_owned(),
    }
}

pub fn all_children(path: &str) -> ReqSpec {
    ReqSpec::GetAllChildrenNumber {
        path: path.to_owned(),
    }
}

/// Flags.
pub const PERSISTENT: i32 = 0;
pub const EPHEMERAL: i32 = 1;
pub const SEQUENTIAL: i32 = 2;
pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
pub const CONTAINER: i32 = 4;
pub const TTL: i32 = 5;
pub const TTL_SEQUENTIAL: i32 = 6;

/// Hex of a whole request frame: header (xid, op) and body bytes.
pub fn frame_hex(xid: i32, op: i32, body: &[u8]) -> String {
    let mut b = Vec::new();
    b.extend_from_slice(&((8 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&xid.to_be_bytes());
    b.extend_from_slice(&op.to_be_bytes());
    b.extend_from_slice(body);
    super::spec::encode_hex(&b)
}

/// Jute bytes of a string (`None` is null).
pub fn jstr(s: Option<&str>) -> Vec<u8> {
    match s {
        None => (-1i32).to_be_bytes().to_vec(),
        Some(s) => {
            let mut b = (s.len() as i32).to_be_bytes().to_vec();
            b.extend_from_slice(s.as_bytes());
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_roots_match_names() {
        let all = all();
        let names: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for s in &all {
            if let Some(r) = &s.root {
                assert_eq!(r, &format!("/{}", s.name));
            }
        }
        assert!(all.len() >= 60, "catalogue has {} scenarios", all.len());
    }

    #[test]
    fn check_outside_multi_is_never_sent_to_zookeeper() {
        for s in all() {
            for st in &s.steps {
                if let Step::Request {
                    request: ReqSpec::Check { .. },
                    ..
                } = &st.step
                {
                    assert!(
                        st.zk_skip,
                        "{}: check outside multi must be zk_skip",
                        s.name
                    );
                }
                if let Step::Raw { hex, .. } = &st.step {
                    let b = super::super::spec::decode_hex(hex).unwrap();
                    if b.len() >= 12 && b[8..12] == 13i32.to_be_bytes() {
                        assert!(st.zk_skip, "{}: raw op 13 must be zk_skip", s.name);
                    }
                }
            }
        }
    }

    #[test]
    fn scenarios_round_trip_through_json() {
        for s in all() {
            let text = serde_json::to_string(&s).unwrap();
            let back: Scenario = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s, "{}", s.name);
        }
    }
}
