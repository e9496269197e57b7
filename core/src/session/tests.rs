//! Tests of session ids, passwords and expiry.

use super::*;
use proptest::prelude::*;

const TICK: i64 = 2000;

fn tracker() -> SessionTracker {
    SessionTracker::new(1, Millis(0), TICK)
}

#[test]
fn initial_id_formula() {
    // Values computed with Java 17's `((now << 24) >>> 8) | (sid << 56)` (see the password
    // test for how): server 1 and 200 at now = 1_700_000_000_000.
    assert_eq!(
        SessionTracker::initial_session_id(1, Millis(1_700_000_000_000)),
        SessionId(0x018b_cfe5_6800_0000)
    );
    assert_eq!(
        SessionTracker::initial_session_id(200, Millis(1_700_000_000_000)),
        SessionId(-3_995_871_660_161_892_352)
    );
    // The clock never leaks into the server-id byte, even with its top bits set.
    assert_eq!(SessionTracker::initial_session_id(1, Millis(-1)).0 >> 56, 1);
    // The id seen in a probe of a standalone server decodes as server 1.
    assert_eq!(
        SessionTracker::initial_session_id(1, Millis(0x5_747f)),
        SessionId(0x0100_0005_747f_0000)
    );
}

#[test]
fn ids_increment_and_skip_reserved_values() {
    let mut t = tracker();
    let first = t.next_session_id();
    assert_eq!(first, SessionTracker::initial_session_id(1, Millis(0)));
    assert_eq!(t.next_session_id(), SessionId(first.0 + 1));

    // Server id 0x80 at clock 0 starts exactly on the container marker.
    assert_eq!(
        SessionTracker::initial_session_id(0x80, Millis(0)),
        SessionId(i64::MIN + 1)
    );
    let mut t = tracker();
    t.next_id = i64::MIN;
    assert_eq!(t.next_session_id(), SessionId(i64::MIN + 1));
    t.next_id = -1;
    assert_eq!(t.next_session_id(), SessionId(-1));
    assert_eq!(t.next_session_id(), SessionId(1), "0 means no session");
}

#[test]
fn ids_skip_tracked_sessions() {
    let mut t = tracker();
    let base = t.next_id;
    t.add(SessionId(base), 4000, Millis(0));
    t.add(SessionId(base + 1), 4000, Millis(0));
    assert_eq!(t.next_session_id(), SessionId(base + 2));
}

#[test]
fn password_matches_java() {
    // Produced on this machine with OpenJDK 17:
    //   byte[] b = new byte[16]; new java.util.Random(id ^ 0xB3415C00L).nextBytes(b);
    // (a Main.java run with `java Main.java`), printing each byte as unsigned hex.
    assert_eq!(
        SessionTracker::password(SessionId(0x0100_0005_747f_0000)),
        [
            0xb3, 0xb4, 0x4d, 0x47, 0xc4, 0xf3, 0x07, 0xc8, 0x49, 0xae, 0x15, 0xa9, 0xad, 0x13,
            0xbf, 0x07
        ]
    );
    assert_eq!(
        SessionTracker::password(SessionId(0x8123_4567_89ab_cdef_u64 as i64)),
        [
            0xf7, 0xcd, 0x1b, 0x8b, 0x3f, 0x94, 0x6c, 0x47, 0x74, 0x25, 0xd4, 0x1b, 0xe3, 0xf6,
            0x67, 0xc6
        ]
    );
    assert_eq!(
        SessionTracker::password(SessionId(0)),
        [
            0xf2, 0x2a, 0xcd, 0x4a, 0x97, 0xe6, 0x9d, 0x6d, 0x20, 0xa4, 0x9b, 0xb6, 0x38, 0xea,
            0xdb, 0x38
        ]
    );
}

#[test]
fn deadline_rounds_to_the_next_tick() {
    let t = tracker();
    assert_eq!(t.deadline_for(Millis(0), 4000), Millis(6000));
    assert_eq!(t.deadline_for(Millis(1), 4000), Millis(6000));
    assert_eq!(t.deadline_for(Millis(1999), 4000), Millis(6000));
    assert_eq!(t.deadline_for(Millis(2000), 4000), Millis(8000));
}

#[test]
fn expiry_happens_between_timeout_and_timeout_plus_tick() {
    let mut t = tracker();
    let s = SessionId(7);
    t.add(s, 4000, Millis(100));
    assert_eq!(t.next_deadline(), Some(Millis(6000)));
    assert!(t.expire(Millis(4100)).is_empty(), "not before the timeout");
    assert!(t.expire(Millis(5999)).is_empty());
    assert_eq!(t.expire(Millis(6000)), [s]);
    assert!(t.is_closing(s));
    assert!(t.contains(s));
    t.assert_invariants();
}

#[test]
fn touch_extends_and_reports_unknown_or_closing() {
    let mut t = tracker();
    let s = SessionId(7);
    t.add(s, 4000, Millis(0));
    assert!(t.touch(s, Millis(5000)));
    assert_eq!(t.next_deadline(), Some(Millis(10000)));
    assert!(t.expire(Millis(6000)).is_empty());
    assert!(!t.touch(SessionId(99), Millis(5000)));
    t.set_closing(s);
    assert!(!t.touch(s, Millis(5000)));
    t.assert_invariants();
}

#[test]
fn closing_sessions_never_expire_again() {
    let mut t = tracker();
    t.add(SessionId(1), 4000, Millis(0));
    t.add(SessionId(2), 4000, Millis(0));
    t.set_closing(SessionId(2));
    assert_eq!(t.expire(Millis(6000)), [SessionId(1)]);
    assert!(t.expire(Millis(60_000)).is_empty());
    assert_eq!(t.next_deadline(), None);
    // Re-adding a closing session (e.g. a replayed createSession) keeps it closing.
    t.add(SessionId(1), 4000, Millis(60_000));
    assert!(t.expire(Millis(120_000)).is_empty());
    t.assert_invariants();
}

#[test]
fn expire_returns_ascending_ids_across_buckets() {
    let mut t = tracker();
    t.add(SessionId(30), 4000, Millis(0));
    t.add(SessionId(10), 8000, Millis(0));
    t.add(SessionId(20), 4000, Millis(0));
    t.add(SessionId(40), 20000, Millis(0));
    assert_eq!(
        t.expiry_buckets(),
        [
            (Millis(6000), vec![SessionId(20), SessionId(30)]),
            (Millis(10000), vec![SessionId(10)]),
            (Millis(22000), vec![SessionId(40)]),
        ]
    );
    assert_eq!(t.expire(Millis(10000)), [10, 20, 30].map(SessionId));
    assert_eq!(t.next_deadline(), Some(Millis(22000)));
}

#[test]
fn next_deadline_is_earliest_live_session() {
    let mut t = tracker();
    assert_eq!(t.next_deadline(), None);
    t.add(SessionId(1), 10000, Millis(0));
    t.add(SessionId(2), 4000, Millis(0));
    assert_eq!(t.next_deadline(), Some(Millis(6000)));
    t.remove(SessionId(2));
    assert_eq!(t.next_deadline(), Some(Millis(12000)));
    assert!(!t.contains(SessionId(2)));
    t.set_closing(SessionId(1));
    assert_eq!(t.next_deadline(), None);
    t.assert_invariants();
}

#[test]
fn set_timeout_applies_at_next_touch_and_add_updates() {
    let mut t = tracker();
    let s = SessionId(5);
    t.add(s, 4000, Millis(0));
    t.set_timeout(s, 10000);
    assert_eq!(t.timeout(s), Some(10000));
    assert_eq!(t.next_deadline(), Some(Millis(6000)));
    assert!(t.touch(s, Millis(0)));
    assert_eq!(t.next_deadline(), Some(Millis(12000)));
    t.add(s, 4000, Millis(0));
    assert_eq!(t.sessions(), [(s, 4000)]);
    assert_eq!(t.next_deadline(), Some(Millis(6000)));
    assert_eq!(t.timeout(SessionId(6)), None);
}

#[test]
fn dump_lists_buckets_like_zookeeper() {
    let mut t = tracker();
    t.add(SessionId(0x10), 4000, Millis(0));
    t.add(SessionId(0x2a), 4000, Millis(0));
    t.add(SessionId(0x3), 30000, Millis(0));
    t.set_closing(SessionId(0x3));
    assert_eq!(
        t.dump(|m| format!("T{}", m.0)),
        "Session Sets (1)/(3):\n2 expire at T6000:\n\t0x10\n\t0x2a\n"
    );
}

#[test]
fn timeout_negotiation_clamps() {
    // tickTime 2000: min 4000, max 40000 (probed: 100 → 4000, 10^9 → 40000).
    assert_eq!(SessionTracker::negotiate_timeout(100, 4000, 40000), 4000);
    assert_eq!(
        SessionTracker::negotiate_timeout(1_000_000_000, 4000, 40000),
        40000
    );
    assert_eq!(SessionTracker::negotiate_timeout(15000, 4000, 40000), 15000);
    assert_eq!(SessionTracker::negotiate_timeout(-5, 4000, 40000), 4000);
}

#[derive(Clone, Debug)]
enum Op {
    Add(i64, i64),
    Touch(i64),
    Close(i64),
    Remove(i64),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 1i64..6;
    prop_oneof![
        (id.clone(), 1i64..20_000).prop_map(|(i, t)| Op::Add(i, t)),
        id.clone().prop_map(Op::Touch),
        id.clone().prop_map(Op::Close),
        id.prop_map(Op::Remove),
        (0i64..5000).prop_map(Op::Advance),
    ]
}

proptest! {
    /// expire() never returns a session touched (or added) within its last timeout, never
    /// returns a closing one, and always returns a live session past its tick-rounded
    /// deadline.
    #[test]
    fn expiry_respects_last_touch(tick in 1i64..3000, ops in prop::collection::vec(op(), 1..100)) {
        let mut t = SessionTracker::new(1, Millis(0), tick);
        let mut now = 0i64;
        // Model: id -> (timeout, last touch, closing).
        let mut model: BTreeMap<i64, (i64, i64, bool)> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Add(i, to) => {
                    t.add(SessionId(i), to, Millis(now));
                    let e = model.entry(i).or_insert((to, now, false));
                    e.0 = to;
                    if !e.2 {
                        e.1 = now;
                    }
                }
                Op::Touch(i) => {
                    let live = model.get(&i).is_some_and(|e| !e.2);
                    prop_assert_eq!(t.touch(SessionId(i), Millis(now)), live);
                    if let Some(e) = model.get_mut(&i).filter(|e| !e.2) {
                        e.1 = now;
                    }
                }
                Op::Close(i) => {
                    t.set_closing(SessionId(i));
                    if let Some(e) = model.get_mut(&i) {
                        e.2 = true;
                    }
                }
                Op::Remove(i) => {
                    t.remove(SessionId(i));
                    model.remove(&i);
                }
                Op::Advance(d) => {
                    now += d;
                    let got = t.expire(Millis(now));
                    for id in &got {
                        let (to, last, closing) = model[&id.0];
                        prop_assert!(!closing, "closing session {} expired", id);
                        prop_assert!(now - last > to, "{} expired {} ms after touch, timeout {}", id, now - last, to);
                    }
                    for (i, e) in model.iter_mut() {
                        let due = !e.2 && (e.1 + e.0) / tick * tick + tick <= now;
                        prop_assert_eq!(got.contains(&SessionId(*i)), due, "session {}", i);
                        if due {
                            e.2 = true;
                        }
                    }
                    prop_assert!(got.windows(2).all(|w| w[0] < w[1]));
                }
            }
            t.assert_invariants();
            let want = model
                .values()
                .filter(|e| !e.2)
                .map(|e| (e.1 + e.0) / tick * tick + tick)
                .min();
            prop_assert_eq!(t.next_deadline().map(|d| d.0), want);
        }
    }
}

#[test]
fn a_renegotiated_timeout_is_not_what_snapshots_record() {
    let mut t = SessionTracker::new(1, Millis(0), 2000);
    let s = SessionId(0x100);
    t.add(s, 4000, Millis(0));
    t.set_timeout(s, 10_000);
    assert_eq!(t.sessions(), [(s, 10_000)]);
    assert_eq!(t.recorded(), [(s, 4000)], "the createSession txn's timeout");
}
