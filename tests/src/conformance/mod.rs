//! Conformance against real ZooKeeper 3.8.0: a catalogue of request sequences, a recorder
//! that replays them against ZooKeeper and stores normalised replies as JSON vectors, and a
//! checker that replays the vectors against any server (Corral, or ZooKeeper again) and
//! reports field-level differences. See `docs/conformance.md`.

pub mod catalogue;
pub mod client;
pub mod compare;
pub mod normalise;
pub mod runner;
pub mod spec;
pub mod vector;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use runner::{RunOptions, Runner, Target};
use vector::Vector;

/// Record every catalogue scenario (or only those named in `only`) against ZooKeeper into
/// `dir`. On a full run, vector files of scenarios no longer in the catalogue are removed.
/// Returns the number of scenarios recorded and the housekeeping problems seen.
pub fn record(
    opts: &RunOptions,
    dir: &Path,
    only: &[String],
) -> Result<(usize, Vec<String>), String> {
    assert_eq!(
        opts.target,
        Target::ZooKeeper,
        "vectors are recorded from ZooKeeper"
    );
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let all = catalogue::all();
    let mut problems = Vec::new();
    let mut n = 0;
    for (seq, sc) in all.iter().enumerate() {
        if !only.is_empty() && !only.contains(&sc.name) {
            continue;
        }
        // Never record a dead server's silence.
        client::RawConn::open(opts.addr, opts.reply_timeout)
            .map_err(|e| format!("server {} unreachable before {}: {e}", opts.addr, sc.name))?;
        let result = Runner::new(opts).run(sc);
        problems.extend(
            result
                .cleanup_problems
                .iter()
                .map(|p| format!("{}: {p}", sc.name)),
        );
        let v = Vector::new(seq, sc, result.outcomes);
        v.save(dir)?;
        eprintln!("recorded {}", sc.name);
        n += 1;
    }
    if only.is_empty() {
        let names: BTreeSet<String> = all.iter().map(|s| Vector::file_name(&s.name)).collect();
        for e in fs::read_dir(dir).map_err(|e| e.to_string())? {
            let p = e.map_err(|e| e.to_string())?.path();
            let stale = p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| names.contains(f));
            if stale {
                fs::remove_file(&p).map_err(|e| e.to_string())?;
                eprintln!("removed stale {}", p.display());
            }
        }
    }
    Ok((n, problems))
}

/// Replay every vector in `dir` (or only those named in `only`) and compare.
pub fn check(
    opts: &RunOptions,
    dir: &Path,
    only: &[String],
) -> Result<Vec<compare::Report>, String> {
    let vectors = Vector::load_dir(dir)?;
    if vectors.is_empty() {
        return Err(format!("no vectors in {}", dir.display()));
    }
    Ok(vectors
        .iter()
        .filter(|v| only.is_empty() || only.contains(&v.name))
        .map(|v| compare::check(v, opts))
        .collect())
}

/// Print a per-scenario PASS/FAIL report; returns true when everything passed.
pub fn print_reports(reports: &[compare::Report]) -> bool {
    let mut failed = 0;
    for r in reports {
        if r.passed() {
            println!("PASS {}", r.name);
        } else {
            failed += 1;
            println!("FAIL {}", r.name);
            for d in &r.diffs {
                println!("    {d}");
            }
        }
        for w in &r.warnings {
            println!("    warning: {w}");
        }
    }
    println!(
        "{} scenarios, {} passed, {failed} failed",
        reports.len(),
        reports.len() - failed
    );
    failed == 0
}
