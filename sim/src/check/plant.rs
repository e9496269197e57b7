//! Planted bugs: deliberate damage to a correct run's history or log, so tests can prove
//! the checkers notice. Never used in normal runs.

use corral_core::server::LogEntry;
use corral_core::types::{SessionId, Zxid};

use crate::history::{Op, Outcome};

/// Which damage to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// Remove one acknowledged (Ok) write's txn from the final log: a lost durable write.
    DropAckedWrite,
    /// Make one read claim the state just before a write its own session had already had
    /// acknowledged: a stale read, breaking read-your-writes.
    StaleRead,
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
    }
}
