//! Newtypes for the identifiers that flow through the whole system.
//!
//! Keeping these apart in the type system stops the classic bug of passing a session id
//! where a zxid was meant: both are `i64` on the wire.

use std::fmt;

/// A ZooKeeper transaction id: `epoch << 32 | counter`.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, bincode::Encode, bincode::Decode,
)]
pub struct Zxid(pub i64);

impl Zxid {
    /// The zxid before any transaction.
    pub const ZERO: Zxid = Zxid(0);

    /// Build from an epoch and a counter.
    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid(((epoch.0 as i64) << 32) | counter as i64)
    }

    /// The epoch half (the leader term that proposed it).
    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32)
    }

    /// The counter half.
    pub fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch.
    ///
    /// # Panics
    /// When the counter would overflow: ZooKeeper forces a new epoch first (ZOOKEEPER-1277),
    /// and so must the caller.
    pub fn next(self) -> Zxid {
        assert!(
            self.counter() < u32::MAX,
            "zxid counter overflow at {self:?}"
        );
        Zxid(self.0 + 1)
    }
}

impl Zxid {
    /// The next zxid, carrying into the epoch half when the counter is exhausted. This is
    /// what a standalone server does (it has no elections to start a new epoch); a ZAB
    /// leader must instead force an election before the counter wraps (`next`).
    pub fn successor(self) -> Zxid {
        Zxid(self.0.checked_add(1).expect("zxid space exhausted"))
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A leader epoch (term).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Epoch(pub u32);

/// A server's id in the ensemble: the `N` of `server.N=` in zoo.cfg and the content of
/// `myid`. ZooKeeper carries it as a `long` on the wire; ids are non-negative there.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    bincode::Encode,
    bincode::Decode,
)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A client session id. 0 means "no session" on the wire.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, bincode::Encode, bincode::Decode,
)]
pub struct SessionId(pub i64);

impl SessionId {
    /// The "no session" id used by fresh clients and by server-generated transactions.
    pub const NONE: SessionId = SessionId(0);
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// Identifies one client connection inside a driver. Assigned by the driver, opaque to the
/// core, never reused while the connection is known to the core.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId(pub u64);

/// Wall-clock time in milliseconds since the Unix epoch, as handed in by the driver.
///
/// ZooKeeper stores the leader's wall clock in every transaction header (ctime/mtime), so the
/// core needs wall time, not just a monotonic tick. The driver supplies it; the core never
/// reads a clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Millis(pub i64);

impl Millis {
    /// `self + ms`, saturating.
    pub fn plus(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_halves_round_trip() {
        let z = Zxid::new(Epoch(7), 42);
        assert_eq!(z.epoch(), Epoch(7));
        assert_eq!(z.counter(), 42);
        assert_eq!(z.next().counter(), 43);
        assert_eq!(format!("{z}"), "0x70000002a");
    }
}
