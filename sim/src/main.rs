//! `corral-sim`: run, sweep and replay seeds of the deterministic simulator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use corral_sim::check::plant::Bug;
use corral_sim::check::{self, Verdict};
use corral_sim::coverage::{Coverage, REQUIRED_FROM_SEEDS};
use corral_sim::scenario::Knobs;
use corral_sim::world::repro_command;
use corral_sim::{cli, history_file, run, RunOptions, RunReport};

#[derive(Parser)]
#[command(name = "corral-sim", about = "Deterministic simulation of Corral")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct KnobArgs {
    /// Simulated length of the workload in ms (faults end 10 s before it).
    #[arg(long, default_value_t = Knobs::default().workload_ms)]
    workload_ms: u64,
    /// Run without faults.
    #[arg(long)]
    no_faults: bool,
    /// Plant a known bug to see the checkers catch it: ack-before-fsync, lying-fsync,
    /// snapshot-drops-last-txn, zombie-ephemeral, stale-read, drop-acked-write, skip-trunc,
    /// stale-read-after-move, drop-ephemeral-cleanup, late-notification.
    #[arg(long, value_name = "BUG", value_parser = Bug::from_name)]
    plant: Option<Bug>,
    /// Keep only these faults of the seed's schedule (comma-separated indexes, in time
    /// order; empty keeps none): how `shrink` prints a smaller failing schedule.
    #[arg(long, value_name = "I,J,..", value_parser = parse_list)]
    keep_faults: Option<Vec<usize>>,
    /// Force the ensemble size: 1 (standalone), 3 or 5. Default: drawn from the seed.
    #[arg(long, value_name = "N", value_parser = parse_servers)]
    servers: Option<usize>,
    /// Work around the known core bugs (see docs/simulation.md): both of the next two.
    #[arg(long)]
    known_core_bugs: bool,
    /// Clients send a sync only with nothing else outstanding (core bug 1).
    #[arg(long)]
    isolate_syncs: bool,
    /// Report `expiry` violations as tolerated instead of failing (core bug 2).
    #[arg(long)]
    tolerate_expiry: bool,
}

fn parse_servers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (1 | 3 | 5)) => Ok(n),
        _ => Err(format!("{s:?}: the ensemble size is 1, 3 or 5")),
    }
}

fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse().map_err(|e| format!("{p:?}: {e}")))
        .collect()
}

impl KnobArgs {
    fn knobs(&self) -> Knobs {
        Knobs {
            workload_ms: self.workload_ms,
            faults: !self.no_faults,
            plant: self.plant,
            keep_faults: self.keep_faults.clone(),
            servers: self.servers,
            isolate_syncs: self.known_core_bugs || self.isolate_syncs,
            tolerate_expiry: self.known_core_bugs || self.tolerate_expiry,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one seed and print a summary.
    Run {
        #[arg(long)]
        seed: u64,
        /// Also write the client history to FILE as JSON lines (the `check` format).
        #[arg(long, value_name = "FILE")]
        history_out: Option<PathBuf>,
        #[command(flatten)]
        knobs: KnobArgs,
    },
    /// Check a history recorded elsewhere (JSON lines, see docs/simulation.md) with the
    /// checkers that need no server log. Exit 1 on a violation, 2 on a malformed file.
    Check {
        file: PathBuf,
        /// Model steps the search checker may take before answering "inconclusive".
        #[arg(long, default_value_t = 2_000_000)]
        max_steps: u64,
    },
    /// Run a range of seeds (`A..B`, B excluded) and print a table.
    Sweep {
        #[arg(long, value_parser = parse_range)]
        seeds: (u64, u64),
        /// Seeds run at once, each on its own thread (results are the same whatever
        /// the number: every seed is its own deterministic simulation).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        #[command(flatten)]
        knobs: KnobArgs,
    },
    /// Shrink a failing seed's fault schedule: drop faults one at a time while the run
    /// still fails, then print the smaller schedule and the command that replays it.
    Shrink {
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        knobs: KnobArgs,
    },
    /// Run one seed again, optionally printing every event.
    Replay {
        #[arg(long)]
        seed: u64,
        /// Print every event, one line each: simulated time, host, event.
        #[arg(long)]
        trace: bool,
        /// Trace every peer message but pings as well (the digest then differs).
        #[arg(long)]
        trace_peers: bool,
        #[command(flatten)]
        knobs: KnobArgs,
    },
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {s:?}"))?;
    let a: u64 = a.parse().map_err(|e| format!("{a:?}: {e}"))?;
    let b: u64 = b.parse().map_err(|e| format!("{b:?}: {e}"))?;
    if b <= a {
        return Err(format!("empty range {a}..{b}"));
    }
    Ok((a, b))
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Run {
            seed,
            knobs,
            history_out,
        } => one(seed, knobs.knobs(), false, false, history_out),
        Cmd::Replay {
            seed,
            knobs,
            trace,
            trace_peers,
        } => one(seed, knobs.knobs(), trace, trace_peers, None),
        Cmd::Sweep { seeds, jobs, knobs } => sweep(seeds, jobs, knobs.knobs()),
        Cmd::Check { file, max_steps } => check_file(&file, max_steps),
        Cmd::Shrink { seed, knobs } => shrink(seed, knobs.knobs()),
    }
}

fn shrink(seed: u64, knobs: Knobs) -> ExitCode {
    let Some(keep) = corral_sim::shrink::shrink_faults(seed, &knobs, &mut |msg| println!("{msg}"))
    else {
        println!("seed {seed} passes: nothing to shrink");
        return ExitCode::SUCCESS;
    };
    let total = corral_sim::shrink::schedule_len(seed, &knobs);
    let shrunk = Knobs {
        keep_faults: Some(keep.clone()),
        ..knobs
    };
    let sc = corral_sim::scenario::Scenario::from_seed(seed, &shrunk);
    println!(
        "smallest failing schedule: {} fault(s) of {total}",
        keep.len()
    );
    for f in &sc.faults {
        println!("  {f:?}");
    }
    println!("reproduce with:\n  {}", repro_command(seed, &shrunk));
    ExitCode::FAILURE
}

fn check_file(file: &Path, max_steps: u64) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let ops = match history_file::parse(&text) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let verdicts = check::check_history(&ops, max_steps);
    print!("{}", cli::history_summary(&ops, &verdicts));
    if verdicts.iter().all(Verdict::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Run a seed; a panic outside the simulated hosts (fault controller, checkers) is a
/// failure of that seed, not of the whole sweep.
fn guarded(seed: u64, opts: &RunOptions) -> Result<RunReport, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed, opts))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}

fn one(
    seed: u64,
    knobs: Knobs,
    print_trace: bool,
    trace_peers: bool,
    history_out: Option<PathBuf>,
) -> ExitCode {
    let opts = RunOptions {
        knobs: knobs.clone(),
        print_trace,
        trace_peers,
        ..RunOptions::default()
    };
    let r = match guarded(seed, &opts) {
        Ok(r) => r,
        Err(e) => {
            println!("seed {seed}: the simulator panicked: {e}");
            println!("reproduce with:\n  {}", repro_command(seed, &knobs));
            return ExitCode::FAILURE;
        }
    };
    print!("{}", cli::summary(&r));
    if let Some(path) = history_out {
        if let Err(e) = std::fs::write(&path, history_file::write(&r.data.ops)) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!(
            "history: {} ops written to {}",
            r.data.ops.len(),
            path.display()
        );
    }
    if r.passed() {
        ExitCode::SUCCESS
    } else {
        if !print_trace {
            print!("{}", cli::failure_details(&r));
        } else {
            println!("reproduce with:\n  {}", r.repro_command());
        }
        ExitCode::FAILURE
    }
}

fn sweep((a, b): (u64, u64), jobs: usize, knobs: Knobs) -> ExitCode {
    let opts = RunOptions {
        knobs: knobs.clone(),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut panicked = Vec::new();
    let mut sim_ms = 0u64;
    let mut cov = Coverage::new();
    println!("{}", cli::table_header());
    // Workers take seeds in order from a shared counter; results are printed and summed in
    // seed order, so the output does not depend on `jobs`.
    let next = std::sync::atomic::AtomicU64::new(a);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut pending = std::collections::BTreeMap::new();
    let mut take = |seed: u64, r: Result<RunReport, String>| {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                println!("{seed:>8} PANIC: {e}");
                panicked.push(seed);
                return;
            }
        };
        sim_ms += r.sim_ms;
        cov.merge(&r.coverage);
        println!("{}", cli::table_row(&r));
        if !r.passed() {
            failed.push(r);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, opts) = (tx.clone(), &next, opts.clone());
            scope.spawn(move || loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= b || tx.send((seed, guarded(seed, &opts))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut want = a;
        for (seed, r) in rx {
            pending.insert(seed, r);
            while let Some(r) = pending.remove(&want) {
                take(want, r);
                want += 1;
            }
        }
    });
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let n = b - a;
    println!(
        "{n} seeds in {wall:.1}s: {:.1} seeds/minute, {:.0}x simulated/wall time; {} failed",
        n as f64 * 60.0 / wall,
        sim_ms as f64 / 1000.0 / wall,
        failed.len() + panicked.len()
    );
    for seed in &panicked {
        println!(
            "\nseed {seed} panicked; reproduce with:\n  {}",
            repro_command(*seed, &knobs)
        );
    }
    for r in &failed {
        println!("\nseed {} failed:", r.seed);
        print!("{}", cli::summary(r));
        println!("reproduce with:\n  {}", r.repro_command());
    }
    println!();
    print!("{}", cli::coverage_table(&cov, n));
    let missing = cov.missing();
    let enforced = n >= REQUIRED_FROM_SEEDS;
    if !missing.is_empty() {
        if enforced {
            println!("coverage FAILED: never reached: {}", missing.join(", "));
        } else {
            println!(
                "coverage: not reached (only reported: fewer than {REQUIRED_FROM_SEEDS} seeds): {}",
                missing.join(", ")
            );
        }
    }
    let coverage_ok = missing.is_empty() || !enforced;
    if failed.is_empty() && panicked.is_empty() && coverage_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
