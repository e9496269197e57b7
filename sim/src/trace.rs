//! The event trace: one line per event, with simulated time and host. Every line feeds a
//! running digest (FNV-1a 64), so two runs of a seed can be compared by one number; the
//! lines themselves are printed only when asked for (`corral-sim replay --trace`), and the
//! last few are kept for failure reports.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// How many recent lines a failure report shows.
const TAIL_LINES: usize = 60;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[derive(Debug)]
struct Inner {
    digest: u64,
    events: u64,
    print: bool,
    tail: VecDeque<String>,
}

/// A shared handle to the trace of one run. Cheap to clone; single-threaded (the whole
/// simulation runs on one thread).
#[derive(Clone, Debug)]
pub struct Trace(Rc<RefCell<Inner>>);

impl Trace {
    /// A trace that prints every line to stdout when `print` is set.
    pub fn new(print: bool) -> Trace {
        Trace(Rc::new(RefCell::new(Inner {
            digest: FNV_OFFSET,
            events: 0,
            print,
            tail: VecDeque::new(),
        })))
    }

    /// Record one event at simulated time `ms` (since the start of the run) on `host`.
    pub fn event(&self, ms: u64, host: &str, what: impl AsRef<str>) {
        let line = format!(
            "{:>6}.{:03} {:<9} {}",
            ms / 1000,
            ms % 1000,
            host,
            what.as_ref()
        );
        let mut t = self.0.borrow_mut();
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            t.digest = (t.digest ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        t.events += 1;
        if t.print {
            println!("{line}");
        }
        if t.tail.len() == TAIL_LINES {
            t.tail.pop_front();
        }
        t.tail.push_back(line);
    }

    /// The digest of every line so far.
    pub fn digest(&self) -> u64 {
        self.0.borrow().digest
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.0.borrow().events
    }

    /// The most recent lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.0.borrow().tail.iter().cloned().collect()
    }
}

/// Simulated milliseconds since the start of the run, as seen by the current host.
/// Outside a host (the fault controller) use `Sim::elapsed` instead.
pub fn sim_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_every_field() {
        let a = Trace::new(false);
        a.event(5, "server", "start");
        let b = Trace::new(false);
        b.event(6, "server", "start");
        let c = Trace::new(false);
        c.event(5, "server", "start");
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), c.digest());
        assert_eq!(c.events(), 1);
        assert_eq!(c.tail().len(), 1);
    }
}
