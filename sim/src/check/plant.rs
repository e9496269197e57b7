//! Planted bugs, so tests (and `corral-sim sweep --plant NAME`) can prove the checkers
//! notice: bugs in the server driver or the simulated disk ([`ServerBug`]), and deliberate
//! damage to a correct run's history or log ([`Plant`]). Never used in normal runs.

use corral_core::proto::{Request, Response};
use corral_core::server::LogEntry;
use corral_core::txn::Txn;
use corral_core::types::{SessionId, Zxid};

use crate::history::{Op, Outcome};
use crate::server_host::ServerBug;
use crate::workload::EPH_PARENT;

/// A bug that can be planted in a whole run (`--plant NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The driver replies before fsync ([`ServerBug::AckBeforeFsync`]).
    AckBeforeFsync,
    /// fsync never makes anything durable ([`ServerBug::LyingFsync`]).
    LyingFsync,
    /// Snapshots lack their newest data txn ([`ServerBug::SnapshotDropsLastTxn`]).
    SnapshotDropsLastTxn,
    /// A closed session's ephemeral still shows in a later read ([`Plant::ZombieEphemeral`]).
    ZombieEphemeral,
    /// A read claims a state older than its session's own write ([`Plant::StaleRead`]).
    StaleRead,
    /// An acknowledged write is missing from the log ([`Plant::DropAckedWrite`]).
    DropAckedWrite,
    /// TRUNC acknowledged without truncating ([`ServerBug::SkipTrunc`]).
    SkipTrunc,
    /// Servers ignore the client's lastZxidSeen ([`ServerBug::IgnoreLastZxidSeen`]).
    StaleReadAfterMove,
    /// Followers drop the ephemeral cleanup of closeSession
    /// ([`ServerBug::DropEphemeralCleanup`]).
    DropEphemeralCleanup,
    /// Notifications go out after the next reply ([`ServerBug::LateNotification`]).
    LateNotification,
}

impl Bug {
    /// Every plantable bug.
    pub const ALL: &'static [Bug] = &[
        Bug::AckBeforeFsync,
        Bug::LyingFsync,
        Bug::SnapshotDropsLastTxn,
        Bug::ZombieEphemeral,
        Bug::StaleRead,
        Bug::DropAckedWrite,
        Bug::SkipTrunc,
        Bug::StaleReadAfterMove,
        Bug::DropEphemeralCleanup,
        Bug::LateNotification,
    ];

    /// The name `--plant` takes.
    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::LyingFsync => "lying-fsync",
            Bug::SnapshotDropsLastTxn => "snapshot-drops-last-txn",
            Bug::ZombieEphemeral => "zombie-ephemeral",
            Bug::StaleRead => "stale-read",
            Bug::DropAckedWrite => "drop-acked-write",
            Bug::SkipTrunc => "skip-trunc",
            Bug::StaleReadAfterMove => "stale-read-after-move",
            Bug::DropEphemeralCleanup => "drop-ephemeral-cleanup",
            Bug::LateNotification => "late-notification",
        }
    }

    /// The bug called `name`.
    pub fn from_name(name: &str) -> Result<Bug, String> {
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug {name:?}; one of: {}", names.join(", "))
            })
    }

    /// The server driver bug it plants, if it is one.
    pub fn server_bug(self) -> Option<ServerBug> {
        match self {
            Bug::AckBeforeFsync => Some(ServerBug::AckBeforeFsync),
            Bug::LyingFsync => Some(ServerBug::LyingFsync),
            Bug::SnapshotDropsLastTxn => Some(ServerBug::SnapshotDropsLastTxn),
            Bug::SkipTrunc => Some(ServerBug::SkipTrunc),
            Bug::StaleReadAfterMove => Some(ServerBug::IgnoreLastZxidSeen),
            Bug::DropEphemeralCleanup => Some(ServerBug::DropEphemeralCleanup),
            Bug::LateNotification => Some(ServerBug::LateNotification),
            _ => None,
        }
    }

    /// The history or log damage it plants, if it is one.
    pub fn plant(self) -> Option<Plant> {
        match self {
            Bug::ZombieEphemeral => Some(Plant::ZombieEphemeral),
            Bug::StaleRead => Some(Plant::StaleRead),
            Bug::DropAckedWrite => Some(Plant::DropAckedWrite),
            _ => None,
        }
    }
}

/// Which damage to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// Remove one acknowledged (Ok) write's txn from the final log: a lost durable write.
    DropAckedWrite,
    /// Make one read claim the state just before a write its own session had already had
    /// acknowledged: a stale read, breaking read-your-writes.
    StaleRead,
    /// A server that drops the ephemeral cleanup of a session close: the first
    /// getChildren of the ephemeral parent answered after a closeSession txn that deleted
    /// ephemerals (by another session) still lists one of them.
    ZombieEphemeral,
}

fn logged_ok_write(op: &Op, log: &[LogEntry]) -> Option<usize> {
    if !op.is_write() || op.outcome() != Some(&Outcome::Ok) || op.session == SessionId::NONE {
        return None;
    }
    log.iter()
        .position(|e| e.hdr.session == op.session && e.hdr.cxid == op.xid)
}

/// Damage `ops`/`log`; returns what was done, or `None` if the run had no suitable target.
pub fn apply(plant: Plant, ops: &mut [Op], log: &mut Vec<LogEntry>) -> Option<String> {
    match plant {
        Plant::DropAckedWrite => {
            let candidates: Vec<(usize, usize)> = ops
                .iter()
                .filter_map(|o| Some((o.index, logged_ok_write(o, log)?)))
                .collect();
            let (i, p) = *candidates.get(candidates.len() / 2)?;
            let e = log.remove(p);
            Some(format!("dropped zxid {} (op#{i}) from the log", e.hdr.zxid))
        }
        Plant::StaleRead => {
            for w in 0..ops.len() {
                let Some(p) = logged_ok_write(&ops[w], log) else {
                    continue;
                };
                let zw = log[p].hdr.zxid;
                let later = ops.iter().position(|r| {
                    r.client == ops[w].client
                        && r.incarnation == ops[w].incarnation
                        && r.invoke_seq > ops[w].invoke_seq
                        && !r.is_write()
                        && r.outcome() == Some(&Outcome::Ok)
                });
                if let Some(r) = later {
                    let ret = ops[r].ret.as_mut().expect("returned");
                    ret.zxid = Some(Zxid(zw.0 - 1));
                    return Some(format!(
                        "op#{r} now claims state {} (before op#{w})",
                        zw.0 - 1
                    ));
                }
            }
            None
        }
        Plant::ZombieEphemeral => zombie_ephemeral(ops, log),
    }
}

fn zombie_ephemeral(ops: &mut [Op], log: &[LogEntry]) -> Option<String> {
    // (zxid, session, names under the ephemeral parent) of every close that deleted some.
    let closes: Vec<(Zxid, SessionId, Vec<String>)> = log
        .iter()
        .filter_map(|e| match &e.txn {
            Txn::CloseSession { ephemerals } => {
                let names: Vec<String> = ephemerals
                    .iter()
                    .filter_map(|p| p.strip_prefix(&format!("{EPH_PARENT}/")))
                    .map(str::to_owned)
                    .collect();
                (!names.is_empty()).then_some((e.hdr.zxid, e.hdr.session, names))
            }
            _ => None,
        })
        .collect();
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].invoke_seq);
    for i in order {
        let op = &ops[i];
        let is_list = matches!(&op.request,
            Request::GetChildren { path, .. } | Request::GetChildren2 { path, .. } if path == EPH_PARENT);
        let Some(z) = op
            .reply_zxid()
            .filter(|_| is_list && op.outcome() == Some(&Outcome::Ok))
        else {
            continue;
        };
        let Some((cz, session, names)) = closes
            .iter()
            .rev()
            .find(|(cz, s, _)| *cz <= z && *s != op.session)
        else {
            continue;
        };
        let ret = ops[i].ret.as_mut().expect("answered");
        let children = match ret.body.as_mut() {
            Some(Response::Children { children }) => children,
            Some(Response::Children2 { children, .. }) => children,
            _ => continue,
        };
        let Some(name) = names.iter().find(|n| !children.contains(n)) else {
            continue;
        };
        children.push(name.clone());
        return Some(format!(
            "op#{i} (at {z}) still lists {EPH_PARENT}/{name} of session {session}, closed at {cz}"
        ));
    }
    None
}
