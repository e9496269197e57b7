//! Reconnect delays: exponential, capped, with a little jitter so that servers restarted
//! together do not dial in lock step.

use std::time::Duration;

/// Doubling delays from `min` to `max`, each plus up to a quarter of itself at random.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// `seed` drives the jitter only (any value; zero is replaced).
    pub fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            next: min,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt; later calls return longer delays, up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        let quarter = (base.as_micros() / 4).max(1) as u64;
        base + Duration::from_micros(self.random() % quarter)
    }

    /// Back to `min` (after a link that stayed up).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The cap, which is also how long a link must stay up to earn a reset.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// xorshift64*: plenty for jitter, and no dependency.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A seed that differs between servers, peers and process starts.
pub fn seed(a: u64, b: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ a.rotate_left(32) ^ b.rotate_left(48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(50), ms(2000), 42);
        let bases = [50, 100, 200, 400, 800, 1600, 2000, 2000];
        for base in bases {
            let d = b.next_delay();
            assert!(
                d >= ms(base) && d < ms(base) + ms(base) / 4,
                "{d:?} for {base}"
            );
        }
        b.reset();
        let d = b.next_delay();
        assert!(d >= ms(50) && d < ms(63), "{d:?}");
        assert_eq!(b.max(), ms(2000));
    }

    #[test]
    fn jitter_depends_on_the_seed_only() {
        let ms = Duration::from_millis;
        let run = |seed| {
            let mut b = Backoff::new(ms(50), ms(2000), seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
