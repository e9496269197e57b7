//! Latency histogram and the live counters behind the progress line.
//!
//! The histogram is log-linear (like HdrHistogram with 2 significant digits): values below
//! 128 ns have their own bucket, above that each power of two is split into 64 buckets, so
//! a reported percentile is at most 1/64 (1.6%) above the true value. Recording is an
//! index computation and an increment, cheap enough for every reply.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-bucket bits: 2^SUB values are exact, then 2^(SUB-1) buckets per power of two.
const SUB: u32 = 7;
const HALF: u64 = 1 << (SUB - 1);
const BUCKETS: usize = ((64 - SUB as usize + 1) * HALF as usize) + HALF as usize;

/// Latencies in nanoseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < (1 << SUB) {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - (SUB - 1);
    (shift as u64 * HALF + (v >> shift)) as usize
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < (1 << SUB) {
        return i;
    }
    let shift = i / HALF - 1;
    let m = i - shift * HALF;
    // u128: the top bucket's bound is 2^64 - 1.
    ((((m + 1) as u128) << shift) - 1).min(u64::MAX as u128) as u64
}

impl Histogram {
    /// Count one value.
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.sum += v as u128;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Add every value counted by `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value (exact); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (exact); 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0..=1): the smallest bucket bound at or below which at
    /// least `q` of the values lie, capped by the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// Counters shared by all sessions, read by the progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Replies received (warm-up included).
    pub ops: AtomicU64,
    /// Verification failures and unexpected errors.
    pub errors: AtomicU64,
    /// Watch notifications received.
    pub notifications: AtomicU64,
}

impl Live {
    /// Count `n` completed ops.
    pub fn add_ops(&self, n: u64) {
        self.ops.fetch_add(n, Ordering::Relaxed);
    }

    /// Count one error.
    pub fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Snapshot: (ops, errors, notifications).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ops.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.notifications.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounds_hold() {
        let mut prev = 0;
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            123_456,
            9_999_999_999,
            u64::MAX,
        ] {
            let b = bucket(v);
            assert!(b >= prev, "bucket order at {v}");
            prev = b;
            assert!(bucket_high(b) >= v, "bound below value {v}");
            // Precision: the bound is within 1/64 of the value.
            assert!(bucket_high(b) - v <= v / 64 + 1, "imprecise at {v}");
            assert!(b < BUCKETS);
        }
        for i in 0..BUCKETS - 1 {
            assert_eq!(bucket(bucket_high(i)), i);
            assert_eq!(bucket(bucket_high(i) + 1), i + 1);
        }
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 5_000_000.0).abs() / 5_000_000.0 < 0.02, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 9_900_000.0).abs() / 9_900_000.0 < 0.02, "{p99}");
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        let mut other = Histogram::default();
        other.record(20_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 10_001);
        assert_eq!(h.quantile(1.0), 20_000_000);
    }
}
