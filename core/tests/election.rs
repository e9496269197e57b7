//! Fast Leader Election in a pure multi-node harness: N `Election` machines, an in-memory
//! network with a seeded scheduler (delay, reordering, loss, partitions), crashes and
//! restarts, and virtual time that jumps to the next event.
//!
//! The harness can also stand in for what ZAB's discovery does after an election (the
//! "establishment stand-in"): a follower whose leader is not LEADING, and a leader without a
//! quorum of followers, go back to LOOKING after `init_limit_ms`, as ZooKeeper's
//! Follower/Leader do when they cannot connect or gather a quorum within initLimit. FLE alone
//! does not guarantee agreement (see `fle_alone_can_split_a_round_and_discovery_repairs_it`),
//! so liveness is checked with the stand-in on.

use std::collections::{BTreeMap, BTreeSet};

use corral_core::types::{Epoch, Millis, ServerId, Zxid};
use corral_core::zab::election::{
    Decision, Election, ElectionEpoch, ElectionError, ElectionTiming, Notification, Output,
    PeerState, Vote,
};
use corral_core::zab::quorum::{Majority, QuorumVerifier};
use proptest::prelude::*;

/// splitmix64: a tiny deterministic generator, enough for schedules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi);
        lo + (self.next() % ((hi - lo) as u64 + 1)) as i64
    }

    fn per_mille(&mut self, p: u32) -> bool {
        (self.next() % 1000) < u64::from(p)
    }
}

/// One server: its persisted position and, while up, its election machine.
struct Node {
    last_zxid: Zxid,
    epoch: Epoch,
    machine: Option<Election<Majority>>,
    start_at: Option<Millis>,
    /// Since when the stand-in has seen this decided node without a working leader.
    unhealthy_since: Option<Millis>,
}

struct InFlight {
    from: ServerId,
    to: ServerId,
    n: Notification,
}

struct Cluster {
    quorum: Majority,
    nodes: BTreeMap<ServerId, Node>,
    /// (delivery time, sequence) -> message; the sequence keeps equal times deterministic.
    queue: BTreeMap<(Millis, u64), InFlight>,
    seq: u64,
    now: Millis,
    rng: Rng,
    drop_per_mille: u32,
    delay_ms: (i64, i64),
    /// Per-link delay overrides for scripted scenarios.
    link_delay: BTreeMap<(ServerId, ServerId), i64>,
    /// Servers in different groups cannot talk; `None` = fully connected.
    partition: Option<Vec<BTreeSet<ServerId>>>,
    /// Directed links that lose everything (asymmetric partitions).
    blocked: BTreeSet<(ServerId, ServerId)>,
    /// The establishment stand-in's initLimit; `None` = off (pure FLE).
    init_limit_ms: Option<i64>,
    /// Election timing of every (re)started machine.
    timing: ElectionTiming,
    /// Every notification ever sent, per sender (to check decisions against).
    sent: BTreeMap<ServerId, Vec<Notification>>,
    /// Every decision, in order.
    decisions: Vec<(Millis, ServerId, Decision)>,
}

impl Cluster {
    /// Servers `1..=n`, all voters, with the given (zxid, epoch) positions.
    fn new(positions: &[(i64, u32)], seed: u64) -> Cluster {
        let ids: Vec<ServerId> = (1..=positions.len() as u64).map(ServerId).collect();
        Cluster::with_voters(positions, ids, seed)
    }

    fn with_voters(positions: &[(i64, u32)], voters: Vec<ServerId>, seed: u64) -> Cluster {
        let nodes = positions
            .iter()
            .enumerate()
            .map(|(i, &(zxid, epoch))| {
                let node = Node {
                    last_zxid: Zxid(zxid),
                    epoch: Epoch(epoch),
                    machine: None,
                    start_at: Some(Millis(0)),
                    unhealthy_since: None,
                };
                (ServerId(i as u64 + 1), node)
            })
            .collect();
        Cluster {
            quorum: Majority::new(voters),
            nodes,
            queue: BTreeMap::new(),
            seq: 0,
            now: Millis(0),
            rng: Rng(seed),
            drop_per_mille: 0,
            delay_ms: (1, 20),
            link_delay: BTreeMap::new(),
            partition: None,
            blocked: BTreeSet::new(),
            init_limit_ms: None,
            timing: ElectionTiming::default(),
            sent: BTreeMap::new(),
            decisions: Vec::new(),
        }
    }

    fn ids(&self) -> Vec<ServerId> {
        self.nodes.keys().copied().collect()
    }

    fn machine(&self, id: u64) -> &Election<Majority> {
        self.nodes[&ServerId(id)]
            .machine
            .as_ref()
            .expect("node is down")
    }

    fn connected(&self, a: ServerId, b: ServerId) -> bool {
        match &self.partition {
            None => true,
            Some(groups) => groups.iter().any(|g| g.contains(&a) && g.contains(&b)),
        }
    }

    fn is_up(&self, id: ServerId) -> bool {
        self.nodes[&id].machine.is_some()
    }

    /// Power loss: the machine and everything queued for it are gone.
    fn crash(&mut self, id: u64) {
        let node = self.nodes.get_mut(&ServerId(id)).unwrap();
        node.machine = None;
        node.start_at = None;
        node.unhealthy_since = None;
    }

    /// Start (or restart) a server at time `at`: a new process, logical clock from 0.
    fn start_at(&mut self, id: u64, at: Millis) {
        let node = self.nodes.get_mut(&ServerId(id)).unwrap();
        node.machine = None;
        node.start_at = Some(at);
    }

    fn drain(&mut self, id: ServerId) {
        loop {
            let Some(machine) = self.nodes.get_mut(&id).unwrap().machine.as_mut() else {
                return;
            };
            let Some(out) = machine.poll_output() else {
                return;
            };
            match out {
                Output::Send { to, notification } => self.send(id, to, notification),
                Output::Decided(d) => self.on_decided(id, d),
            }
        }
    }

    fn send(&mut self, from: ServerId, to: ServerId, n: Notification) {
        assert_eq!(n.sender, from);
        assert_ne!(to, from, "a node never sends to itself");
        self.sent.entry(from).or_default().push(n);
        if self.rng.per_mille(self.drop_per_mille) {
            return;
        }
        let delay = match self.link_delay.get(&(from, to)) {
            Some(&d) => d,
            None => self.rng.range(self.delay_ms.0, self.delay_ms.1),
        };
        self.seq += 1;
        let at = self.now.plus(delay);
        self.queue.insert((at, self.seq), InFlight { from, to, n });
    }

    /// Safety checks that hold for every decision on any schedule.
    fn on_decided(&mut self, me: ServerId, d: Decision) {
        assert!(
            self.quorum.contains_quorum(&d.supporters),
            "{me:?} decided without a quorum: {d:?}"
        );
        assert_eq!(
            d.role == PeerState::Leading,
            d.leader == me,
            "{me:?}: {d:?}"
        );
        assert!(self.quorum.is_voter(d.leader), "non-voter leader: {d:?}");
        if !self.quorum.is_voter(me) {
            assert_eq!(d.role, PeerState::Observing);
        }
        // Every supporter other than me really sent a notification that agrees with the
        // decision (same vote and round when LOOKING; same leader and epoch otherwise).
        for s in d.supporters.iter().filter(|&&s| s != me) {
            let backed = self.sent.get(s).is_some_and(|v| {
                v.iter().any(|n| {
                    n.vote.leader == d.leader
                        && n.vote.peer_epoch == d.vote.peer_epoch
                        && (n.state != PeerState::Looking
                            || (n.vote == d.vote && n.election_epoch == d.election_epoch))
                })
            });
            assert!(
                backed,
                "{me:?} counted {s:?} without a matching message: {d:?}"
            );
        }
        self.decisions.push((self.now, me, d));
    }

    fn next_event(&self) -> Option<Millis> {
        let mut next = self.queue.keys().next().map(|k| k.0);
        let mut consider = |t: Millis| next = Some(next.map_or(t, |n: Millis| n.min(t)));
        for node in self.nodes.values() {
            if let Some(t) = node.start_at {
                consider(t);
            }
            if let Some(t) = node.machine.as_ref().and_then(|m| m.next_deadline()) {
                consider(t);
            }
            if let (Some(since), Some(limit)) = (node.unhealthy_since, self.init_limit_ms) {
                consider(since.plus(limit));
            }
        }
        next
    }

    /// Run every event due at or before `until`.
    fn run_until(&mut self, until: Millis) {
        let mut steps = 0u32;
        // Settings may have changed between runs (stand-in switched on, partition healed).
        self.stand_in();
        while let Some(t) = self.next_event().filter(|&t| t <= until) {
            steps += 1;
            assert!(steps < 200_000, "runaway schedule at {:?}", self.now);
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(until);
    }

    fn step(&mut self) {
        let now = self.now;
        for id in self.ids() {
            let node = self.nodes.get_mut(&id).unwrap();
            if node.start_at.is_some_and(|t| t <= now) {
                node.start_at = None;
                let mut m = Election::with_timing(
                    id,
                    self.quorum.clone(),
                    node.last_zxid,
                    node.epoch,
                    self.timing,
                );
                m.start(now);
                node.machine = Some(m);
                node.unhealthy_since = None;
                self.drain(id);
            }
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let msg = entry.remove();
            if !self.connected(msg.from, msg.to) || self.blocked.contains(&(msg.from, msg.to)) {
                continue;
            }
            if let Some(m) = self.nodes.get_mut(&msg.to).unwrap().machine.as_mut() {
                m.on_notification(now, msg.from, msg.n).unwrap();
                self.drain(msg.to);
            }
        }
        for id in self.ids() {
            if let Some(m) = self.nodes.get_mut(&id).unwrap().machine.as_mut() {
                if m.next_deadline().is_some_and(|t| t <= now) {
                    m.tick(now);
                    self.drain(id);
                }
            }
        }
        self.stand_in();
    }

    /// A decided node's leader relation works: a follower's leader is up, reachable and
    /// LEADING; a leader has a quorum of reachable followers.
    fn healthy(&self, id: ServerId) -> bool {
        let Some(d) = self.nodes[&id].machine.as_ref().and_then(|m| m.decision()) else {
            return false;
        };
        if d.role == PeerState::Leading {
            let followers: BTreeSet<ServerId> = self
                .ids()
                .into_iter()
                .filter(|&f| {
                    f == id
                        || (self.connected(id, f)
                            && self.nodes[&f]
                                .machine
                                .as_ref()
                                .and_then(|m| m.decision())
                                .is_some_and(|fd| fd.leader == id))
                })
                .collect();
            self.quorum.contains_quorum(&followers)
        } else {
            self.connected(id, d.leader)
                && self.nodes[&d.leader]
                    .machine
                    .as_ref()
                    .is_some_and(|m| m.state() == PeerState::Leading)
        }
    }

    fn stand_in(&mut self) {
        let Some(limit) = self.init_limit_ms else {
            return;
        };
        let now = self.now;
        for id in self.ids() {
            let decided = self.nodes[&id]
                .machine
                .as_ref()
                .is_some_and(|m| m.decision().is_some());
            if !decided {
                continue;
            }
            let healthy = self.healthy(id);
            let node = self.nodes.get_mut(&id).unwrap();
            if healthy {
                node.unhealthy_since = None;
                continue;
            }
            let since = *node.unhealthy_since.get_or_insert(now);
            if now >= since.plus(limit) {
                node.unhealthy_since = None;
                node.machine.as_mut().unwrap().start(now);
                self.drain(id);
            }
        }
    }

    /// The servers that are up.
    fn live(&self) -> Vec<ServerId> {
        self.ids()
            .into_iter()
            .filter(|&id| self.is_up(id))
            .collect()
    }

    /// The leader every live node has decided for, when they all agree and it has a quorum.
    fn converged_leader(&self) -> Option<ServerId> {
        let live = self.live();
        let leaders: BTreeSet<ServerId> = live
            .iter()
            .map(|id| {
                self.nodes[id]
                    .machine
                    .as_ref()
                    .unwrap()
                    .decision()
                    .map(|d| d.leader)
            })
            .collect::<Option<_>>()?;
        let leader = *leaders.iter().next()?;
        (leaders.len() == 1 && self.is_up(leader) && self.healthy(leader)).then_some(leader)
    }

    fn decision_of(&self, id: u64) -> Option<&Decision> {
        self.nodes[&ServerId(id)].machine.as_ref()?.decision()
    }
}

fn vote_of(c: &Cluster, id: ServerId) -> Vote {
    let n = &c.nodes[&id];
    Vote {
        leader: id,
        zxid: n.last_zxid,
        peer_epoch: n.epoch,
    }
}

/// The vote ZooKeeper's order makes best among `ids`.
fn best_vote(c: &Cluster, ids: &[ServerId]) -> Vote {
    ids.iter()
        .map(|&id| vote_of(c, id))
        .max_by_key(|v| (v.peer_epoch, v.zxid, v.leader))
        .unwrap()
}

const S: fn(u64) -> ServerId = ServerId;

// ---- scripted scenarios ---------------------------------------------------------------

#[test]
fn all_start_at_once_the_highest_zxid_wins() {
    for seed in 0..20 {
        let mut c = Cluster::new(
            &[(0x1_0000_0005, 1), (0x1_0000_0009, 1), (0x1_0000_0007, 1)],
            seed,
        );
        c.run_until(Millis(5_000));
        for id in 1..=3 {
            let d = c.decision_of(id).expect("everyone decides");
            assert_eq!(d.leader, S(2), "seed {seed}");
            assert_eq!(d.vote.zxid, Zxid(0x1_0000_0009));
            assert_eq!(d.election_epoch, ElectionEpoch(1));
        }
        assert_eq!(c.decision_of(2).unwrap().role, PeerState::Leading);
        assert_eq!(c.decision_of(1).unwrap().role, PeerState::Following);
    }
}

#[test]
fn equal_zxids_the_highest_id_wins() {
    for seed in 0..20 {
        let mut c = Cluster::new(&[(7, 1); 5], seed);
        c.delay_ms = (1, 150);
        c.run_until(Millis(5_000));
        for id in 1..=5 {
            assert_eq!(c.decision_of(id).unwrap().leader, S(5), "seed {seed}");
        }
    }
}

#[test]
fn a_higher_zxid_beats_a_higher_id() {
    let mut c = Cluster::new(
        &[(0x2_0000_0003, 2), (0x2_0000_0001, 2), (0x2_0000_0002, 2)],
        7,
    );
    c.run_until(Millis(5_000));
    for id in 1..=3 {
        assert_eq!(c.decision_of(id).unwrap().leader, S(1));
    }
}

#[test]
fn a_higher_peer_epoch_beats_a_higher_zxid() {
    // Server 1 has more txns of an old epoch; server 2 accepted the newer epoch.
    let mut c = Cluster::new(
        &[(0x1_0000_0050, 1), (0x2_0000_0000, 2), (0x1_0000_0040, 1)],
        3,
    );
    c.run_until(Millis(5_000));
    for id in 1..=3 {
        assert_eq!(c.decision_of(id).unwrap().leader, S(2));
    }
}

#[test]
fn decisions_wait_for_finalize_wait() {
    let mut c = Cluster::new(&[(1, 1), (1, 1), (1, 1)], 1);
    c.delay_ms = (10, 10);
    c.run_until(Millis(5_000));
    // Quorum agreement needs one hop; then 200 ms of silence about better votes.
    for (at, _, _) in &c.decisions {
        assert!(*at >= Millis(210), "decided too early at {at:?}");
    }
}

#[test]
fn a_minority_partition_never_decides_and_joins_the_majority_leader() {
    // Server 1 has the best log but is cut off with server 2.
    let mut c = Cluster::new(&[(90, 1), (50, 1), (10, 1), (20, 1), (30, 1)], 11);
    let minority: BTreeSet<ServerId> = [S(1), S(2)].into();
    let majority: BTreeSet<ServerId> = [S(3), S(4), S(5)].into();
    c.partition = Some(vec![minority, majority]);
    c.run_until(Millis(30_000));
    assert!(c.decision_of(1).is_none() && c.decision_of(2).is_none());
    for id in 3..=5 {
        assert_eq!(c.decision_of(id).unwrap().leader, S(5));
    }
    c.partition = None;
    // The minority's notification timeout has backed off; it re-sends within 60 s.
    c.run_until(Millis(120_000));
    for id in 1..=5 {
        assert_eq!(c.decision_of(id).unwrap().leader, S(5), "server {id}");
    }
    assert_eq!(c.decision_of(1).unwrap().role, PeerState::Following);
    // The leader never changed: joiners took the established one, not the better log.
    assert!(c.decisions.iter().all(|(_, _, d)| d.leader == S(5)));
}

#[test]
fn a_restarted_node_joins_the_established_leader() {
    let mut c = Cluster::new(&[(5, 1), (5, 1), (5, 1)], 5);
    c.init_limit_ms = Some(4_000);
    c.run_until(Millis(2_000));
    assert_eq!(c.converged_leader(), Some(S(3)));
    // A follower goes down while the others keep going; rounds move on meanwhile.
    c.crash(1);
    c.run_until(Millis(3_000));
    // Server 1 comes back with a better log than the leader: it still joins server 3.
    c.nodes.get_mut(&S(1)).unwrap().last_zxid = Zxid(99);
    c.start_at(1, Millis(3_000));
    let before = c.decisions.len();
    c.run_until(Millis(10_000));
    let d = c.decision_of(1).unwrap();
    assert_eq!((d.leader, d.role), (S(3), PeerState::Following));
    assert!(d.supporters.contains(&S(3)));
    assert_eq!(
        c.decisions.len(),
        before + 1,
        "only the restarted node decided again"
    );
    assert_eq!(c.converged_leader(), Some(S(3)));
}

#[test]
fn competing_candidates_with_equal_zxids() {
    // Servers 4 and 5 tie on the best zxid; the others lag. Under lossy, reordering
    // delivery the tie still goes to the higher id, and everyone ends up there.
    for seed in 0..30 {
        let mut c = Cluster::new(&[(3, 1), (4, 1), (2, 1), (9, 1), (9, 1)], seed);
        c.delay_ms = (1, 400);
        c.drop_per_mille = 100;
        c.init_limit_ms = Some(4_000);
        c.run_until(Millis(120_000));
        assert_eq!(c.converged_leader(), Some(S(5)), "seed {seed}");
    }
}

#[test]
fn five_servers_with_two_down_still_elect() {
    let mut c = Cluster::new(&[(1, 1), (2, 1), (3, 1), (8, 1), (9, 1)], 2);
    c.crash(4);
    c.crash(5);
    c.run_until(Millis(10_000));
    for id in 1..=3 {
        let d = c.decision_of(id).unwrap();
        assert_eq!(d.leader, S(3));
        assert_eq!(d.supporters, [S(1), S(2), S(3)].into());
    }
    // Three down of five: no quorum, no decision, only backed-off re-sends.
    let mut c = Cluster::new(&[(1, 1), (2, 1), (3, 1), (8, 1), (9, 1)], 2);
    for id in 3..=5 {
        c.crash(id);
    }
    c.run_until(Millis(60_000));
    assert!(c.decisions.is_empty());
}

#[test]
fn fle_alone_can_split_a_round_and_discovery_repairs_it() {
    // ZooKeeper's FLE decides on the votes it has once finalizeWait passes quietly; a better
    // vote that reaches some servers and not others makes them decide differently in the same
    // round. By id 1 < 2 < 3, equal logs. 1 and 2 start together and settle on 2; 3 starts
    // just before their waits end, and the links towards 1 fail at that moment.
    let mut c = Cluster::new(&[(5, 1), (5, 1), (5, 1)], 0);
    c.delay_ms = (10, 10);
    c.start_at(3, Millis(205));
    c.run_until(Millis(204));
    c.blocked = [(S(2), S(1)), (S(3), S(1))].into();
    c.run_until(Millis(2_000));
    let d1 = c.decision_of(1).unwrap().clone();
    assert_eq!((d1.leader, d1.election_epoch), (S(2), ElectionEpoch(1)));
    for id in [2, 3] {
        let d = c.decision_of(id).unwrap();
        assert_eq!((d.leader, d.election_epoch), (S(3), ElectionEpoch(1)));
    }
    // Server 1 follows a server that does not lead. Discovery would fail it within
    // initLimit and send it LOOKING again, where it joins the real leader from the answers.
    c.blocked.clear();
    c.init_limit_ms = Some(4_000);
    c.run_until(Millis(20_000));
    let d1 = c.decision_of(1).unwrap();
    assert_eq!((d1.leader, d1.election_epoch), (S(3), ElectionEpoch(1)));
    assert_eq!(
        c.machine(1).logical_clock(),
        ElectionEpoch(1),
        "adopted the leader's round"
    );
    assert_eq!(c.converged_leader(), Some(S(3)));
}

#[test]
fn a_late_joiner_with_a_worse_vote_is_told_the_better_one() {
    // The deviation from ZooKeeper: same round, worse vote -> the receiver answers at once.
    let mut m = Election::new(S(3), three(), Zxid(9), Epoch(1), Millis(0));
    m.start(Millis(0));
    let _ = drain(&mut m);
    m.on_notification(Millis(1), S(1), note(1, 1, 2, 1, PeerState::Looking))
        .unwrap();
    assert_eq!(
        sends(&drain(&mut m)),
        vec![(S(1), note(3, 3, 9, 1, PeerState::Looking))]
    );
    // An equal vote is not answered (nothing to teach).
    m.on_notification(Millis(2), S(2), note(2, 3, 9, 1, PeerState::Looking))
        .unwrap();
    assert!(sends(&drain(&mut m)).is_empty());
}

#[test]
fn an_observer_follows_the_voters_and_is_never_elected() {
    // Server 4 observes and has by far the best log; it must not count or win.
    let mut c = Cluster::with_voters(
        &[(1, 1), (2, 1), (3, 1), (99, 9)],
        vec![S(1), S(2), S(3)],
        4,
    );
    c.delay_ms = (1, 60);
    c.init_limit_ms = Some(4_000);
    c.run_until(Millis(30_000));
    for id in 1..=3 {
        assert_eq!(c.decision_of(id).unwrap().leader, S(3));
    }
    let d = c.decision_of(4).expect("the observer found the leader");
    assert_eq!((d.leader, d.role), (S(3), PeerState::Observing));
    assert!(!d.supporters.contains(&S(4)));
    for (_, _, d) in &c.decisions {
        assert!(!d.supporters.contains(&S(4)));
    }
}

// ---- single-machine behaviour ---------------------------------------------------------

fn three() -> Majority {
    Majority::new([S(1), S(2), S(3)])
}

fn drain(m: &mut Election<Majority>) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn note(sender: u64, leader: u64, zxid: i64, round: u64, state: PeerState) -> Notification {
    Notification {
        vote: Vote {
            leader: S(leader),
            zxid: Zxid(zxid),
            peer_epoch: Epoch(1),
        },
        election_epoch: ElectionEpoch(round),
        state,
        sender: S(sender),
    }
}

fn sends(out: &[Output]) -> Vec<(ServerId, Notification)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, notification } => Some((*to, *notification)),
            Output::Decided(_) => None,
        })
        .collect()
}

#[test]
fn start_sends_own_vote_to_every_other_voter() {
    let mut m = Election::new(S(2), three(), Zxid(4), Epoch(1), Millis(0));
    assert_eq!(m.next_deadline(), None);
    m.start(Millis(0));
    let out = sends(&drain(&mut m));
    assert_eq!(
        out.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![S(1), S(3)]
    );
    assert!(out
        .iter()
        .all(|(_, n)| *n == note(2, 2, 4, 1, PeerState::Looking)));
    assert_eq!(m.next_deadline(), Some(Millis(200)));
}

#[test]
fn silence_backs_off_exponentially_to_the_cap() {
    let mut m = Election::new(S(1), three(), Zxid(4), Epoch(1), Millis(0));
    m.start(Millis(0));
    let _ = drain(&mut m);
    let mut resend_times = Vec::new();
    while let Some(t) = m.next_deadline().filter(|t| *t <= Millis(400_000)) {
        m.tick(t);
        assert_eq!(sends(&drain(&mut m)).len(), 2, "re-sent to both peers");
        resend_times.push(t.0);
    }
    let gaps: Vec<i64> = resend_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(resend_times[..4], [200, 600, 1400, 3000]);
    assert_eq!(gaps[..4], [400, 800, 1600, 3200]);
    assert_eq!(
        *gaps.last().unwrap(),
        60_000,
        "capped at maxNotificationInterval"
    );
}

#[test]
fn a_higher_round_resets_the_tally_and_a_lower_one_is_answered() {
    let mut m = Election::new(S(1), three(), Zxid(9), Epoch(1), Millis(0));
    m.start(Millis(0));
    let _ = drain(&mut m);
    // Round 5 from server 2 proposing a worse vote: adopt the round, keep my own vote.
    m.on_notification(Millis(1), S(2), note(2, 2, 3, 5, PeerState::Looking))
        .unwrap();
    assert_eq!(m.logical_clock(), ElectionEpoch(5));
    assert_eq!(m.proposal().unwrap().leader, S(1));
    let out = sends(&drain(&mut m));
    assert!(out
        .iter()
        .all(|(_, n)| n.election_epoch == ElectionEpoch(5)));
    assert_eq!(out.len(), 2);
    // Server 3 lags in round 1: it gets my round and vote back, nothing is tallied.
    m.on_notification(Millis(2), S(3), note(3, 3, 100, 1, PeerState::Looking))
        .unwrap();
    assert_eq!(
        sends(&drain(&mut m)),
        vec![(S(3), note(1, 1, 9, 5, PeerState::Looking))]
    );
    assert_eq!(
        m.proposal().unwrap().leader,
        S(1),
        "a stale round never changes my vote"
    );
    assert!(!m.is_finalizing());
}

#[test]
fn a_decided_node_answers_looking_peers_only() {
    let mut m = Election::new(S(3), three(), Zxid(9), Epoch(1), Millis(0));
    m.start(Millis(0));
    let _ = drain(&mut m);
    m.on_notification(Millis(5), S(1), note(1, 3, 9, 1, PeerState::Looking))
        .unwrap();
    assert!(m.is_finalizing());
    // A worse vote during the wait is dropped and restarts the wait.
    m.on_notification(Millis(100), S(2), note(2, 2, 1, 1, PeerState::Looking))
        .unwrap();
    m.tick(Millis(205));
    assert!(m.decision().is_none());
    m.tick(Millis(300));
    let out = drain(&mut m);
    let Some(Output::Decided(d)) = out.last() else {
        panic!("{out:?}")
    };
    assert_eq!((d.leader, d.role), (S(3), PeerState::Leading));
    assert_eq!(d.supporters, [S(1), S(3)].into());
    m.on_notification(Millis(400), S(2), note(2, 2, 1, 7, PeerState::Looking))
        .unwrap();
    let mut answer = note(3, 3, 9, 1, PeerState::Leading);
    answer.sender = S(3);
    assert_eq!(sends(&drain(&mut m)), vec![(S(2), answer)]);
    m.on_notification(Millis(401), S(1), note(1, 3, 9, 1, PeerState::Following))
        .unwrap();
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn following_needs_the_leader_to_say_it_leads() {
    let five = Majority::new((1..=5).map(S));
    let mut m = Election::new(S(1), five, Zxid(1), Epoch(1), Millis(0));
    m.start(Millis(0));
    let _ = drain(&mut m);
    // A quorum follows server 5 from an old round, but 5 itself has not said it leads (it
    // may have crashed): ZooKeeper's checkLeader refuses to join.
    for (t, from) in [(1, 2), (2, 3), (3, 4)] {
        m.on_notification(
            Millis(t),
            S(from),
            note(from, 5, 5, 4, PeerState::Following),
        )
        .unwrap();
    }
    assert!(m.decision().is_none());
    m.on_notification(Millis(4), S(5), note(5, 5, 5, 4, PeerState::Leading))
        .unwrap();
    let d = m.decision().expect("joined");
    assert_eq!(
        (d.leader, d.role, d.election_epoch),
        (S(5), PeerState::Following, ElectionEpoch(4))
    );
    assert_eq!(d.supporters, [S(2), S(3), S(4), S(5)].into());
    assert_eq!(m.logical_clock(), ElectionEpoch(4));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut m = Election::new(S(1), three(), Zxid(1), Epoch(1), Millis(0));
    m.start(Millis(0));
    let n = note(2, 2, 1, 1, PeerState::Looking);
    assert!(matches!(
        m.on_notification(Millis(1), S(3), n),
        Err(ElectionError::SenderMismatch { .. })
    ));
    assert_eq!(
        m.on_notification(Millis(1), S(1), note(1, 1, 1, 1, PeerState::Looking)),
        Err(ElectionError::FromSelf)
    );
    assert_eq!(
        m.set_log_position(Zxid(0), Epoch(1)),
        Err(ElectionError::RoundInProgress)
    );
    // A vote for a server outside the ensemble is ignored.
    m.on_notification(Millis(2), S(2), note(2, 77, 1_000, 1, PeerState::Looking))
        .unwrap();
    assert_eq!(m.proposal().unwrap().leader, S(1));
}

// ---- property tests ---------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Faults {
    seed: u64,
    size: usize,
    positions: Vec<(i64, u32)>,
    drop_per_mille: u32,
    delay_max_ms: i64,
    /// Each server's side of the partition (0 or 1), until `heal_at_ms`.
    sides: Vec<bool>,
    heal_at_ms: i64,
    /// A minority that crashes at `crash_at_ms` and restarts at heal time or stays down.
    crashed: Vec<u64>,
    crash_at_ms: i64,
    restart: bool,
}

fn faults() -> impl Strategy<Value = Faults> {
    (prop_oneof![Just(3usize), Just(5usize)], any::<u64>()).prop_flat_map(|(size, seed)| {
        (
            proptest::collection::vec((0i64..4, 0u32..3), size),
            0u32..400,
            1i64..1_500,
            proptest::collection::vec(any::<bool>(), size),
            0i64..60_000,
            proptest::sample::subsequence(
                (1..=size as u64).collect::<Vec<_>>(),
                0..=(size - 1) / 2,
            ),
            0i64..60_000,
            any::<bool>(),
        )
            .prop_map(
                move |(
                    pos,
                    drop_per_mille,
                    delay_max_ms,
                    sides,
                    heal_at_ms,
                    crashed,
                    crash_at_ms,
                    restart,
                )| {
                    Faults {
                        seed,
                        size,
                        // zxid within the epoch it belongs to
                        positions: pos
                            .into_iter()
                            .map(|(c, e)| (((e as i64) << 32) | c, e))
                            .collect(),
                        drop_per_mille,
                        delay_max_ms,
                        sides,
                        heal_at_ms,
                        crashed,
                        crash_at_ms,
                        restart,
                    }
                },
            )
    })
}

/// The stand-in's initLimit in the property tests.
const INIT_LIMIT_MS: i64 = 4_000;

/// ZooKeeper's notification cap. Without the same-round answer (see `Election::lags`), a
/// straggler and this cap livelock: the property test found schedules where the other
/// LOOKING servers never re-send because the straggler's notifications keep restarting
/// their timeouts.
const MAX_NOTIFICATION_MS: i64 = 60_000;

/// Bound on convergence after the network heals: a long-isolated server's backed-off
/// re-send (up to the cap), then a few initLimits and rounds.
const LIVENESS_BOUND_MS: i64 = 3 * MAX_NOTIFICATION_MS;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Safety on any schedule (checked at every decision by the harness), and liveness once
    /// the network heals: every live server decides for one leader that has a quorum.
    #[test]
    fn faults_then_heal(f in faults()) {
        let mut c = Cluster::new(&f.positions, f.seed);
        c.drop_per_mille = f.drop_per_mille;
        c.delay_ms = (1, f.delay_max_ms);
        c.init_limit_ms = Some(INIT_LIMIT_MS);
        c.timing.max_notification_interval_ms = MAX_NOTIFICATION_MS;
        let (a, b): (Vec<ServerId>, Vec<ServerId>) =
            c.ids().into_iter().partition(|id| f.sides[(id.0 - 1) as usize]);
        c.partition = Some(vec![a.into_iter().collect(), b.into_iter().collect()]);
        let crash_at = Millis(f.crash_at_ms.min(f.heal_at_ms));
        c.run_until(crash_at);
        for &id in &f.crashed {
            c.crash(id);
        }
        c.run_until(Millis(f.heal_at_ms));
        c.partition = None;
        c.drop_per_mille = 0;
        if f.restart {
            for &id in &f.crashed {
                c.start_at(id, Millis(f.heal_at_ms));
            }
        }
        c.run_until(Millis(f.heal_at_ms + LIVENESS_BOUND_MS));
        let leader = c.converged_leader();
        prop_assert!(leader.is_some(), "no convergence: {:?}", c.live().iter()
            .map(|&id| (id, c.nodes[&id].machine.as_ref().unwrap().decision().map(|d| d.leader)))
            .collect::<Vec<_>>());
        let _ = f.size;
    }

    /// With no loss, delays under finalizeWait and a common start, FLE alone agrees: every
    /// server decides the best vote, in round 1.
    #[test]
    fn synchronous_rounds_agree_on_the_best_vote(
        seed in any::<u64>(),
        size in prop_oneof![Just(3usize), Just(5usize)],
        pos in proptest::collection::vec((0i64..4, 0u32..3), 5),
        delay_max in 1i64..199,
    ) {
        let positions: Vec<(i64, u32)> =
            pos[..size].iter().map(|&(c, e)| (((e as i64) << 32) | c, e)).collect();
        let mut c = Cluster::new(&positions, seed);
        c.delay_ms = (1, delay_max);
        c.run_until(Millis(10_000));
        let best = best_vote(&c, &c.ids());
        prop_assert_eq!(c.decisions.len(), size);
        for (_, _, d) in &c.decisions {
            prop_assert_eq!(d.vote, best);
            prop_assert_eq!(d.election_epoch, ElectionEpoch(1));
        }
    }
}

/// A notification cap below the finalize wait would let re-sending peers keep a finalizing
/// server from ever deciding (the simulator found such a livelock): the cap is raised to
/// five finalize waits.
#[test]
fn a_cap_smaller_than_the_finalize_wait_is_raised() {
    let quorum = Majority::new([ServerId(1), ServerId(2), ServerId(3)]);
    let timing = ElectionTiming {
        finalize_wait_ms: 100,
        min_notification_interval_ms: 50,
        max_notification_interval_ms: 60,
    };
    let mut e = Election::with_timing(ServerId(1), quorum, Zxid(0), Epoch(0), timing);
    let mut now = Millis(0);
    e.start(now);
    while e.poll_output().is_some() {}
    let mut gap = 0;
    for _ in 0..10 {
        let next = e.next_deadline().expect("looking");
        gap = next.0 - now.0;
        now = next;
        e.tick(now);
        while e.poll_output().is_some() {}
    }
    assert_eq!(gap, 500, "re-sends back off to five finalize waits");
}
