//! Run every fuzz target over its committed corpus and over seeded random inputs, so the
//! targets are exercised on stable by `cargo test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corral_fuzz::seeds::seeds;
use corral_fuzz::TARGETS;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Random inputs per target (`FUZZ_INPUTS` raises it for a longer local campaign, and
/// `FUZZ_SEED` varies the stream; `FUZZ_TARGET` runs one target only).
const RANDOM_INPUTS: usize = 20_000;

fn random_inputs() -> usize {
    std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RANDOM_INPUTS)
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The corpus files of `target`, sorted by name.
fn corpus(target: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = corpus_dir(target);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus dir {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn committed_seeds_match_the_generator() {
    for seed in seeds() {
        let files = corpus(seed.target);
        let on_disk = files.get(seed.name).unwrap_or_else(|| {
            panic!(
                "{}/{} missing: run `cargo run -p corral-fuzz --example write_seeds`",
                seed.target, seed.name
            )
        });
        assert_eq!(
            on_disk, &seed.data,
            "{}/{} is stale: run the write_seeds example",
            seed.target, seed.name
        );
    }
    for (target, _) in TARGETS {
        let n = seeds().iter().filter(|s| s.target == *target).count();
        assert!(n >= 20, "{target} has only {n} seeds");
    }
}

#[test]
fn targets_survive_their_corpus() {
    for (target, run) in TARGETS {
        for (name, data) in corpus(target) {
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(
                result.is_ok(),
                "{target} panicked on corpus/{target}/{name}"
            );
        }
    }
}

/// One input: random bytes, or a corpus entry mutated (bytes flipped, truncated, spliced,
/// or with a length field blown up), which reaches deeper than pure noise.
fn random_input(rng: &mut StdRng, pool: &[Vec<u8>]) -> Vec<u8> {
    if pool.is_empty() || rng.random_range(0..4) == 0 {
        let len = rng.random_range(0..256);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut data = pool[rng.random_range(0..pool.len())].clone();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..5) {
            0 if !data.is_empty() => {
                let i = rng.random_range(0..data.len());
                data[i] = rng.random();
            }
            1 if !data.is_empty() => {
                let keep = rng.random_range(0..data.len());
                data.truncate(keep);
            }
            2 => {
                let other = &pool[rng.random_range(0..pool.len())];
                let at = rng.random_range(0..=data.len());
                let from = rng.random_range(0..=other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            3 if data.len() >= 4 => {
                let i = rng.random_range(0..=data.len() - 4);
                let v: [i32; 4] = [-1, -2, i32::MAX, 0x0010_0000];
                data[i..i + 4].copy_from_slice(&v[rng.random_range(0..4)].to_be_bytes());
            }
            _ => data.push(rng.random()),
        }
    }
    data
}

#[test]
fn targets_survive_seeded_random_inputs() {
    let only = std::env::var("FUZZ_TARGET").ok();
    let extra: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for (t, (target, run)) in TARGETS.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != *target) {
            continue;
        }
        let pool: Vec<Vec<u8>> = corpus(target).into_values().collect();
        let mut rng = StdRng::seed_from_u64((0xC0_88A1 + t as u64) ^ extra.wrapping_mul(0x9E37));
        for i in 0..random_inputs() {
            let data = random_input(&mut rng, &pool);
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(
                result.is_ok(),
                "{target} panicked on random input #{i}: {data:02x?}"
            );
        }
    }
}
