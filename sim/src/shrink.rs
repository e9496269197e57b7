//! Shrinking a failing run: the smallest subset of the seed's fault schedule (greedy,
//! one fault at a time, to a fixpoint) under which the run still fails. Every other draw of
//! the seed stays the same (`Knobs::keep_faults` filters the schedule after drawing it), so
//! the shrunk run differs from the original only by the faults it lacks.

use crate::scenario::{Knobs, Scenario};
use crate::world::{run, RunOptions};

/// Whether `seed` under `knobs` fails (a panic counts as failing).
pub fn fails(seed: u64, knobs: &Knobs) -> bool {
    let opts = RunOptions {
        knobs: knobs.clone(),
        ..RunOptions::default()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed, &opts)))
        .map_or(true, |r| !r.passed())
}

/// Faults in the seed's full schedule.
pub fn schedule_len(seed: u64, knobs: &Knobs) -> usize {
    let all = Knobs {
        keep_faults: None,
        ..knobs.clone()
    };
    Scenario::from_seed(seed, &all).faults.len()
}

/// The indexes of a smallest failing fault subset (every kept fault is needed: dropping
/// any one makes the run pass), or `None` if the run passes as given. `progress` hears of
/// each step.
pub fn shrink_faults(
    seed: u64,
    knobs: &Knobs,
    progress: &mut dyn FnMut(String),
) -> Option<Vec<usize>> {
    if !fails(seed, knobs) {
        return None;
    }
    let total = schedule_len(seed, knobs);
    let mut keep: Vec<usize> = knobs
        .keep_faults
        .clone()
        .unwrap_or_else(|| (0..total).collect());
    progress(format!(
        "seed {seed} fails with {} of {total} faults; shrinking",
        keep.len()
    ));
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < keep.len() {
            let mut fewer = keep.clone();
            let dropped = fewer.remove(i);
            let k = Knobs {
                keep_faults: Some(fewer.clone()),
                ..knobs.clone()
            };
            if fails(seed, &k) {
                progress(format!(
                    "  without fault {dropped}: still fails ({} left)",
                    fewer.len()
                ));
                keep = fewer;
                changed = true;
            } else {
                i += 1;
            }
        }
    }
    Some(keep)
}
