//! Each checker rejects the kind of history it exists for: a correct run's history and log
//! are damaged in one precise way, and the matching checker (and, where the damage is
//! local, only that one) must fail. Where the damage is to the history itself (not to the
//! log), the search checker (`linearizable`), which reads only the history, must fail too.

use std::sync::OnceLock;

use corral_core::proto::{Request, Response};
use corral_core::txn::Txn;
use corral_sim::check::{check_all, Verdict};
use corral_sim::history::{Outcome, SessionEnd};
use corral_sim::{run, RunData, RunOptions};

/// A correct standalone run with faults (computed once).
fn base() -> RunData {
    static BASE: OnceLock<RunData> = OnceLock::new();
    BASE.get_or_init(|| {
        // A standalone server: its reads are held to real time too, which some damages
        // below rely on.
        let opts = RunOptions {
            knobs: corral_sim::scenario::Knobs {
                servers: Some(1),
                ..Default::default()
            },
            ..RunOptions::default()
        };
        let r = run(3, &opts);
        assert!(r.passed());
        r.data
    })
    .clone()
}

fn failing(d: &RunData) -> Vec<Verdict> {
    check_all(d.input())
        .into_iter()
        .filter(|v| !v.passed())
        .collect()
}

fn names(v: &[Verdict]) -> Vec<&'static str> {
    v.iter().map(|v| v.name).collect()
}

/// Index of the log entry of op `i`.
fn log_pos(d: &RunData, i: usize) -> Option<usize> {
    let o = &d.ops[i];
    d.log
        .iter()
        .position(|e| e.hdr.session == o.session && e.hdr.cxid == o.xid)
}

fn ok_logged_writes(d: &RunData) -> Vec<usize> {
    d.ops
        .iter()
        .filter(|o| o.is_write() && o.outcome() == Some(&Outcome::Ok))
        .filter(|o| log_pos(d, o.index).is_some())
        .map(|o| o.index)
        .collect()
}

#[test]
fn the_base_run_passes() {
    assert!(failing(&base()).is_empty());
}

#[test]
fn a_write_ordered_against_real_time_is_caught() {
    let mut d = base();
    let writes = ok_logged_writes(&d);
    // A later-zxid write of one client, and an earlier-zxid write of another client that
    // we pretend was invoked only after the first returned.
    let (a, b) = writes
        .iter()
        .rev()
        .find_map(|&a| {
            let b = writes
                .iter()
                .copied()
                .find(|&b| d.ops[b].client != d.ops[a].client)?;
            Some((a, b))
        })
        .expect("two clients wrote");
    assert!(d.ops[a].reply_zxid() > d.ops[b].reply_zxid());
    let a_ret = d.ops[a].ret.as_ref().unwrap().ms;
    d.ops[b].invoke_ms = a_ret + 1;
    let rb = d.ops[b].ret.as_mut().unwrap();
    rb.ms = rb.ms.max(a_ret + 2);
    // The search checker sees the same contradiction in the history alone.
    assert_eq!(names(&failing(&d)), vec!["real-time", "linearizable"]);
}

#[test]
fn replies_out_of_submission_order_are_caught() {
    let mut d = base();
    let (x, y) = d
        .ops
        .windows(2)
        .find(|w| {
            w[0].client == w[1].client
                && w[0].incarnation == w[1].incarnation
                && w[0].answered()
                && w[1].answered()
        })
        .map(|w| (w[0].index, w[1].index))
        .expect("consecutive answered ops");
    let sx = d.ops[x].ret.as_ref().unwrap().seq;
    let sy = d.ops[y].ret.as_ref().unwrap().seq;
    d.ops[x].ret.as_mut().unwrap().seq = sy;
    d.ops[y].ret.as_mut().unwrap().seq = sx;
    assert_eq!(names(&failing(&d)), vec!["session-order"]);
}

#[test]
fn sequential_names_going_backwards_are_caught() {
    let mut d = base();
    let seq: Vec<usize> = d
        .log
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.txn, Txn::Create { path, .. } if path.starts_with("/s/n-")))
        .map(|(i, _)| i)
        .collect();
    assert!(seq.len() >= 2);
    let (p, q) = (seq[0], seq[seq.len() - 1]);
    let path_of = |t: &Txn| match t {
        Txn::Create { path, .. } => path.clone(),
        _ => unreachable!(),
    };
    let (pp, pq) = (path_of(&d.log[p].txn), path_of(&d.log[q].txn));
    for (i, new) in [(p, pq), (q, pp)] {
        if let Txn::Create { path, .. } = &mut d.log[i].txn {
            *path = new;
        }
    }
    assert!(names(&failing(&d)).contains(&"sequential"));
}

#[test]
fn an_ephemeral_seen_after_its_session_closed_is_caught() {
    let mut d = base();
    let (read, owner) = d
        .ops
        .iter()
        .find_map(|o| {
            let ret = o.ret.as_ref()?;
            let owner = match ret.body.as_ref()? {
                Response::Stat(s) | Response::GetData { stat: s, .. } => s.ephemeral_owner,
                _ => return None,
            };
            (owner.0 != 0 && o.invoke_ms > 0).then_some((o.index, owner))
        })
        .expect("some read saw an ephemeral");
    let ms = d.ops[read].invoke_ms - 1;
    d.session_ends.push(SessionEnd {
        session: owner,
        ms,
        seq: 0,
        closed: true,
    });
    assert_eq!(names(&failing(&d)), vec!["ephemerals"]);
}

#[test]
fn a_txn_no_client_sent_is_caught() {
    let mut d = base();
    let w = ok_logged_writes(&d)[10];
    let p = log_pos(&d, w).unwrap();
    d.log[p].hdr.cxid = 1_000_000;
    let f = failing(&d);
    let replies = f
        .iter()
        .find(|v| v.name == "write-replies")
        .expect("caught");
    assert!(replies.violations.iter().any(|v| v.starts_with("phantom")));
    assert!(names(&f).contains(&"durability"));
}

#[test]
fn half_a_multi_is_caught() {
    let mut d = base();
    let p = d
        .log
        .iter()
        .position(|e| {
            matches!(&e.txn, Txn::Multi(subs)
                if subs.len() >= 2 && subs.iter().all(|t| !matches!(t, Txn::Error { .. })))
        })
        .expect("a successful multi of two or more ops");
    if let Txn::Multi(subs) = &mut d.log[p].txn {
        subs.pop();
    }
    let f = failing(&d);
    let replies = f
        .iter()
        .find(|v| v.name == "write-replies")
        .expect("caught");
    assert!(replies
        .violations
        .iter()
        .any(|v| v.contains("does not implement")));
}

#[test]
fn a_read_of_a_different_value_is_caught() {
    let mut d = base();
    let op = d
        .ops
        .iter_mut()
        .find(|o| {
            matches!(
                o.ret.as_ref().and_then(|r| r.body.as_ref()),
                Some(Response::GetData { data: Some(_), .. })
            )
        })
        .expect("a getData with data");
    if let Some(Response::GetData { data, .. }) = op.ret.as_mut().unwrap().body.as_mut() {
        *data = Some(b"never written".to_vec());
    }
    assert_eq!(names(&failing(&d)), vec!["reads", "linearizable"]);
}

/// A read (`filter`) whose session had seen at most zxid `high` before it, invoked after
/// another client's write above `high` was acknowledged: (read index, high).
fn read_behind_another_clients_write(
    d: &RunData,
    filter: impl Fn(&corral_sim::history::Op) -> bool,
) -> Vec<(usize, corral_core::types::Zxid)> {
    let ops = &d.ops;
    ops.iter()
        .filter(|r| filter(r) && r.answered())
        .filter_map(|r| {
            // Where the session's earlier ops were placed.
            let high = ops
                .iter()
                .filter(|o| {
                    o.client == r.client
                        && o.incarnation == r.incarnation
                        && o.invoke_seq < r.invoke_seq
                })
                .filter_map(|o| o.reply_zxid())
                .max()?;
            let newer_write_seen = ops.iter().any(|w| {
                w.client != r.client
                    && w.is_write()
                    && w.outcome() == Some(&Outcome::Ok)
                    && w.ret.as_ref().is_some_and(|x| x.ms < r.invoke_ms)
                    && w.reply_zxid().is_some_and(|z| z > high)
            });
            newer_write_seen.then_some((r.index, high))
        })
        .collect()
}

/// A read answered from a state older than a write another client had already seen
/// acknowledged (with the same answer at that older state): a stale read. One server must
/// not do it (`real-time`); an ensemble may (reads are sequentially consistent there), as
/// long as the session's own order holds.
#[test]
fn a_stale_read_across_sessions_fails_one_server_but_not_an_ensemble() {
    use corral_sim::check::model;
    let mut d = base();
    let candidates = read_behind_another_clients_write(&d, |o| {
        matches!(
            o.request,
            Request::GetData { .. } | Request::Exists { .. } | Request::GetChildren { .. }
        )
    });
    // One whose answer would have been the same at the older state.
    let (i, high) = candidates
        .into_iter()
        .find(|&(i, high)| {
            let op = &d.ops[i];
            let r = model::replay(&d.log, &[(&op.request, high)]);
            let ret = op.ret.as_ref().unwrap();
            match (&r.reads[0], &ret.outcome) {
                (Some(Ok(a)), Outcome::Ok) => ret.body.as_ref() == Some(a),
                (Some(Err(e)), Outcome::Failed(f)) => e == f,
                _ => false,
            }
        })
        .expect("a read that can be made stale");
    d.ops[i].ret.as_mut().unwrap().zxid = Some(high);
    let f = names(&failing(&d));
    assert!(f.contains(&"real-time"), "{f:?}");
    d.ensemble = true;
    assert!(failing(&d).is_empty(), "{:?}", names(&failing(&d)));
}

/// A sync that did not catch its server up to a write another client had already seen
/// acknowledged: wrong on one server and in an ensemble alike.
#[test]
fn a_sync_that_does_not_catch_up_is_caught() {
    let mut d = base();
    let (i, high) =
        read_behind_another_clients_write(&d, |o| matches!(o.request, Request::Sync { .. }))[0];
    d.ops[i].ret.as_mut().unwrap().zxid = Some(high);
    // (The search checker leaves syncs out.)
    assert_eq!(names(&failing(&d)), ["real-time", "sync"]);
    d.ensemble = true;
    assert_eq!(names(&failing(&d)), ["sync"]);
}

/// A session a client was told had expired, which the committed history never closes.
#[test]
fn an_expiry_the_leader_never_made_is_caught() {
    let mut d = base();
    let closed: std::collections::BTreeSet<_> = d
        .log
        .iter()
        .filter(|e| matches!(e.txn, Txn::CloseSession { .. }))
        .map(|e| e.hdr.session)
        .collect();
    let live = d
        .ops
        .iter()
        .find(|o| o.session.0 != 0 && !closed.contains(&o.session))
        .expect("a session alive at the end");
    let end = SessionEnd {
        session: live.session,
        ms: live.invoke_ms,
        seq: live.invoke_seq,
        closed: false,
    };
    d.session_ends.push(end);
    assert_eq!(names(&failing(&d)), vec!["expiry"]);
}

#[test]
fn a_watch_that_fires_twice_is_caught() {
    let mut d = base();
    let e = d
        .watches
        .first()
        .expect("the base run received watch events")
        .clone();
    // The same notification delivered again, later.
    let mut twice = e.clone();
    twice.seq = d.watches.last().unwrap().seq + 1;
    d.watches.push(twice);
    assert_eq!(names(&failing(&d)), ["watches"]);
}

#[test]
fn a_watch_nobody_set_is_caught() {
    let mut d = base();
    let mut e = d
        .watches
        .first()
        .expect("the base run received watch events")
        .clone();
    e.path = "/never-watched".into();
    d.watches.push(e);
    assert_eq!(names(&failing(&d)), ["watches"]);
}

/// The first notification whose session got a reply after it (that reply's zxid includes
/// the change the notification reports), and the seq of the session's last reply.
fn notification_before_a_reply(d: &RunData) -> (usize, u64) {
    let last_reply = |session| {
        d.ops
            .iter()
            .filter(|o| o.session == session && o.answered())
            .filter_map(|o| o.ret.as_ref().map(|r| r.seq))
            .max()
    };
    d.watches
        .iter()
        .enumerate()
        .find_map(|(i, e)| {
            let last = last_reply(e.session)?;
            (last > e.seq).then_some((i, last))
        })
        .expect("the base run has a notification followed by a reply")
}

#[test]
fn a_notification_after_the_change_shows_is_caught() {
    let mut d = base();
    let (i, last) = notification_before_a_reply(&d);
    // Delivered only after the session's last reply: the replies in between already
    // carried a zxid at or past the change.
    d.watches[i].seq = last + 1;
    assert_eq!(names(&failing(&d)), ["watch-order"]);
}

#[test]
fn a_lost_notification_is_caught() {
    let mut d = base();
    let (i, _) = notification_before_a_reply(&d);
    d.watches.remove(i);
    assert_eq!(names(&failing(&d)), ["watch-order"]);
}
