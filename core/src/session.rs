//! Session ids, passwords and expiry (reference §2.3 step 5, §10).
//!
//! Expiry follows ZooKeeper's `ExpiryQueue`: a session's deadline is `now + timeout` rounded
//! up to the next multiple of the tick, and sessions sharing a deadline sit in one bucket.
//! A session therefore expires between `timeout` and `timeout + tick` after its last touch
//! (probed: a 4000 ms session with tick 2000 expired ~4.9 s after the last traffic).
//!
//! The tracker never reads a clock: every call that needs time takes `now`, and the driver
//! asks [`SessionTracker::next_deadline`] when to call [`SessionTracker::expire`] next.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Millis, SessionId};

/// The value ZooKeeper XORs into the session id to seed the password generator
/// (`ZooKeeperServer.superSecret`).
const PASSWORD_SECRET: i64 = 0xB341_5C00;

/// The ephemeralOwner that marks container nodes; never handed out as a session id.
const CONTAINER_OWNER: i64 = i64::MIN;

/// `java.util.Random`: the 48-bit linear congruential generator, reproduced bit for bit so
/// that passwords match the ones a Java server issues for the same session id.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const ADDEND: i64 = 0xB;
    const MASK: i64 = (1 << 48) - 1;

    /// `new Random(seed)`: the seed is scrambled with the multiplier.
    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// `next(bits)`: advance and return the top `bits` of the 48-bit state.
    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND)
            & Self::MASK;
        // Java: (int)(seed >>> (48 - bits)); the state is non-negative, so >> is >>>.
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextBytes`: one `nextInt()` per 4 bytes, low byte first.
    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let mut rnd = self.next(32);
            for b in chunk {
                *b = rnd as u8;
                rnd >>= 8;
            }
        }
    }
}

/// One tracked session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    timeout_ms: i64,
    /// The timeout of the createSession txn (or the snapshot it was restored from): what
    /// the replicated state holds, unchanged by reconnects that negotiate another one.
    recorded_ms: i64,
    /// Bucket the session sits in; meaningless while `closing`.
    deadline: Millis,
    /// Expired or closed, waiting for its closeSession txn. Never touched or expired again.
    closing: bool,
}

/// Tracks live sessions, hands out new ids and reports which sessions have expired.
///
/// Invariant: a session is in exactly one bucket (the one of its `deadline`) iff it is not
/// closing.
#[derive(Clone, Debug)]
pub struct SessionTracker {
    tick_ms: i64,
    next_id: i64,
    sessions: BTreeMap<SessionId, Entry>,
    buckets: BTreeMap<Millis, BTreeSet<SessionId>>,
}

impl SessionTracker {
    /// The first session id a server hands out: `(serverId << 56) | ((now << 24) >>> 8)`, so
    /// the top byte is the server id and the next five bytes come from the clock (§2.3.5).
    pub fn initial_session_id(server_id: i64, now: Millis) -> SessionId {
        // `>>> 8` (unsigned) keeps the clock bits out of the server-id byte (ZOOKEEPER-1622).
        let clock = (((now.0 << 24) as u64) >> 8) as i64;
        let id = (server_id << 56) | clock;
        SessionId(if id == CONTAINER_OWNER { id + 1 } else { id })
    }

    /// The session password: the first 16 bytes of `java.util.Random(id ^ 0xB3415C00)`, exactly
    /// what a Java ZooKeeper server issues, so every ensemble member can re-derive and check it.
    pub fn password(session: SessionId) -> [u8; 16] {
        let mut out = [0u8; 16];
        JavaRandom::new(session.0 ^ PASSWORD_SECRET).next_bytes(&mut out);
        out
    }

    /// Clamps a requested timeout into `[min, max]` (§2.3.3). If the configuration is inverted
    /// (`min > max`, a config error ZooKeeper refuses at startup) `max` wins.
    pub fn negotiate_timeout(requested: i64, min: i64, max: i64) -> i64 {
        requested.max(min).min(max)
    }

    /// A tracker for server `server_id` started at `now`, with expiry buckets of `tick_ms`
    /// (the configured tickTime; a non-positive value is treated as 1 ms).
    pub fn new(server_id: i64, now: Millis, tick_ms: i64) -> Self {
        SessionTracker {
            tick_ms: tick_ms.max(1),
            next_id: Self::initial_session_id(server_id, now).0,
            sessions: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The deadline for a session touched at `now`: ZooKeeper's
    /// `ExpiryQueue.roundToNextInterval(now + timeout)`, i.e. `(t / tick + 1) * tick`. It is
    /// always strictly after `now + timeout` (an exact multiple moves to the next one).
    pub fn deadline_for(&self, now: Millis, timeout_ms: i64) -> Millis {
        let t = now.0.saturating_add(timeout_ms);
        Millis(
            (t / self.tick_ms)
                .saturating_add(1)
                .saturating_mul(self.tick_ms),
        )
    }

    /// Hands out the next session id: the previous one plus 1, skipping 0 ("no session"),
    /// the container marker 0x8000000000000000, and ids already tracked (so a restart at
    /// the same clock value cannot collide with restored sessions). Does not track it.
    pub fn next_session_id(&mut self) -> SessionId {
        // Bounded: each skipped value is either one of two constants or a tracked session.
        for _ in 0..self.sessions.len() + 3 {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != 0 && id != CONTAINER_OWNER && !self.sessions.contains_key(&SessionId(id)) {
                return SessionId(id);
            }
        }
        unreachable!("session id space exhausted after skipping every tracked id")
    }

    fn unbucket(&mut self, id: SessionId, deadline: Millis) {
        if let Some(set) = self.buckets.get_mut(&deadline) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&deadline);
            }
        }
    }

    /// Moves a non-closing session to the bucket of `now + timeout`.
    fn reschedule(&mut self, id: SessionId, now: Millis) {
        let Some(entry) = self.sessions.get(&id).copied() else {
            return;
        };
        debug_assert!(!entry.closing);
        let deadline = self.deadline_for(now, entry.timeout_ms);
        self.unbucket(id, entry.deadline);
        self.buckets.entry(deadline).or_default().insert(id);
        if let Some(e) = self.sessions.get_mut(&id) {
            e.deadline = deadline;
        }
    }

    /// Starts tracking `id` (createSession txn applied, or a session restored from a
    /// snapshot/log, which gets a fresh deadline as in ZooKeeper). Tracking an existing
    /// session updates its timeout and, unless it is closing, touches it.
    pub fn add(&mut self, id: SessionId, timeout_ms: i64, now: Millis) {
        let entry = self.sessions.entry(id).or_insert(Entry {
            timeout_ms,
            recorded_ms: timeout_ms,
            deadline: Millis(i64::MIN),
            closing: false,
        });
        entry.timeout_ms = timeout_ms;
        entry.recorded_ms = timeout_ms;
        if !entry.closing {
            self.reschedule(id, now);
        }
    }

    /// Records traffic on the session: its deadline moves to `now + timeout` (rounded).
    /// Returns false if the session is unknown or closing (the caller then answers
    /// SessionExpired / closes the connection).
    pub fn touch(&mut self, id: SessionId, now: Millis) -> bool {
        match self.sessions.get(&id) {
            Some(e) if !e.closing => {
                self.reschedule(id, now);
                true
            }
            _ => false,
        }
    }

    /// Changes the stored timeout (reconnect with a new negotiated timeout). The deadline
    /// is not moved until the next [`touch`](Self::touch).
    pub fn set_timeout(&mut self, id: SessionId, timeout_ms: i64) {
        if let Some(e) = self.sessions.get_mut(&id) {
            e.timeout_ms = timeout_ms;
        }
    }

    /// Forgets the session (closeSession txn applied).
    pub fn remove(&mut self, id: SessionId) {
        if let Some(e) = self.sessions.remove(&id) {
            if !e.closing {
                self.unbucket(id, e.deadline);
            }
        }
    }

    /// Marks the session closing (explicit close submitted, or expired): it is never
    /// touched or expired again, and requests on it get SessionExpired.
    pub fn set_closing(&mut self, id: SessionId) {
        let Some(e) = self.sessions.get(&id).copied() else {
            return;
        };
        if !e.closing {
            self.unbucket(id, e.deadline);
            if let Some(e) = self.sessions.get_mut(&id) {
                e.closing = true;
            }
        }
    }

    /// Forgets every session (the state is replaced by a snapshot from the leader).
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.buckets.clear();
    }

    /// Every session gets a fresh deadline from `now` and stops closing (a new leader takes
    /// over expiry: a close the old leader had started but not committed is forgotten,
    /// and the session expires again if its client stays away).
    pub fn retrack_all(&mut self, now: Millis) {
        self.buckets.clear();
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.sessions.get_mut(&id) {
                e.closing = false;
            }
            self.reschedule(id, now);
        }
    }

    /// Whether the session is closing.
    pub fn is_closing(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|e| e.closing)
    }

    /// Whether the session is tracked (closing or not).
    pub fn contains(&self, id: SessionId) -> bool {
        self.sessions.contains_key(&id)
    }

    /// The session's stored timeout.
    pub fn timeout(&self, id: SessionId) -> Option<i64> {
        self.sessions.get(&id).map(|e| e.timeout_ms)
    }

    /// Number of tracked sessions (closing ones included).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions whose deadline is `<= now` and that are not closing, ascending. They are
    /// marked closing; the caller submits a closeSession txn for each. Call again at
    /// [`next_deadline`](Self::next_deadline).
    pub fn expire(&mut self, now: Millis) -> Vec<SessionId> {
        let later = match now.0.checked_add(1) {
            Some(after) => self.buckets.split_off(&Millis(after)),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut self.buckets, later);
        let expired: BTreeSet<SessionId> = due.into_values().flatten().collect();
        for id in &expired {
            let e = self
                .sessions
                .get_mut(id)
                .expect("bucketed session is tracked");
            assert!(!e.closing, "closing session {id} was still bucketed");
            e.closing = true;
        }
        expired.into_iter().collect()
    }

    /// The earliest deadline of a non-closing session: when to call
    /// [`expire`](Self::expire) next. None when nothing can expire.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.buckets.keys().next().copied()
    }

    /// Every tracked session with its current timeout, ascending by id.
    pub fn sessions(&self) -> Vec<(SessionId, i64)> {
        self.sessions
            .iter()
            .map(|(id, e)| (*id, e.timeout_ms))
            .collect()
    }

    /// Every tracked session with its recorded timeout (the createSession txn's), ascending
    /// by id: what a snapshot stores, equal to what replaying the log gives.
    pub fn recorded(&self) -> Vec<(SessionId, i64)> {
        self.sessions
            .iter()
            .map(|(id, e)| (*id, e.recorded_ms))
            .collect()
    }

    /// The expiry buckets, earliest first, each with its sessions ascending.
    pub fn expiry_buckets(&self) -> Vec<(Millis, Vec<SessionId>)> {
        self.buckets
            .iter()
            .map(|(t, ids)| (*t, ids.iter().copied().collect()))
            .collect()
    }

    /// The SessionTracker part of the `dump` four-letter word, as ZooKeeper prints it:
    /// `Session Sets (<buckets>)/(<sessions>):` then, per bucket, `<n> expire at <time>:`
    /// and one `\t0x<id>` line per session. `format_time` renders a deadline (ZooKeeper
    /// prints `java.util.Date.toString()`); the core never formats wall-clock dates itself.
    pub fn dump(&self, format_time: impl Fn(Millis) -> String) -> String {
        let mut out = format!(
            "Session Sets ({})/({}):\n",
            self.buckets.len(),
            self.sessions.len()
        );
        for (t, ids) in &self.buckets {
            out.push_str(&format!("{} expire at {}:\n", ids.len(), format_time(*t)));
            for id in ids {
                out.push_str(&format!("\t0x{:x}\n", id.0));
            }
        }
        out
    }

    /// Checks the bucket invariant; panics with context when broken. For tests and
    /// simulation.
    pub fn assert_invariants(&self) {
        let mut bucketed = 0;
        for (t, ids) in &self.buckets {
            assert!(!ids.is_empty(), "empty bucket at {t:?}");
            for id in ids {
                let e = self.sessions.get(id).expect("bucketed session tracked");
                assert!(!e.closing, "closing session {id} in bucket");
                assert_eq!(e.deadline, *t, "session {id} in wrong bucket");
                assert_eq!(t.0 % self.tick_ms, 0, "bucket {t:?} not on a tick");
                bucketed += 1;
            }
        }
        let live = self.sessions.values().filter(|e| !e.closing).count();
        assert_eq!(bucketed, live, "live sessions vs bucketed");
    }
}

#[cfg(test)]
mod tests;
