//! Printing run reports: the one-seed summary, sweep table rows, and failure details with
//! the command that reproduces them.

use std::fmt::Write as _;

use crate::check::Verdict;
use crate::coverage::{Coverage, Scope, COUNTERS, REQUIRED_FROM_SEEDS};
use crate::history::Op;
use crate::world::RunReport;

/// The multi-line summary of one run.
pub fn summary(r: &RunReport) -> String {
    let mut s = String::new();
    let secs = r.wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        s,
        "seed {}: {} server{}, {} clients, {:.1}s simulated in {:.2}s wall ({:.0}x)",
        r.seed,
        r.servers,
        if r.servers == 1 { " (standalone)" } else { "s" },
        r.clients,
        r.sim_ms as f64 / 1000.0,
        secs,
        r.sim_ms as f64 / 1000.0 / secs
    );
    let f = &r.faults;
    let _ = writeln!(
        s,
        "faults: {} crashes ({} torn tails, {} unsynced bytes lost, {} skipped), {} restarts, {} partitions ({} leader isolations), {} holds, {} delay spikes",
        f.crashes,
        f.torn_tails,
        f.lost_unsynced_bytes,
        f.skipped,
        f.restarts,
        f.partitions,
        f.isolations,
        f.holds,
        f.delay_spikes
    );
    let o = &r.ops;
    let _ = writeln!(
        s,
        "ops: {} ({} writes, {} reads) in {} sessions: {} ok, {} failed, {} unknown, {} unanswered; unknown writes {} present / {} absent",
        o.total,
        o.writes,
        o.reads,
        o.sessions,
        o.ok,
        o.failed,
        o.unknown,
        o.unanswered,
        o.unknown_writes_present,
        o.unknown_writes_absent
    );
    let _ = writeln!(
        s,
        "servers: {} starts; committed history {} entries to zxid {}; {}",
        r.server_starts,
        r.log_entries,
        r.last_zxid,
        match r.converged_ms {
            Some(ms) => format!("converged at {:.3}s", ms as f64 / 1000.0),
            None => "did not converge".to_owned(),
        }
    );
    if r.servers > 1 {
        let z = &r.zab;
        let _ = writeln!(
            s,
            "replication: {} election decisions ({} contested), {} leaders established ({} leader changes), syncs: {} diff ({} empty), {} trunc, {} snap",
            z.decisions,
            z.contested,
            z.established,
            z.leader_changes,
            z.sync_diff,
            z.sync_diff_empty,
            z.sync_trunc,
            z.sync_snap
        );
    }
    if let Some(p) = &r.planted {
        let _ = writeln!(s, "planted bug: {p}");
    }
    let reached: Vec<String> = COUNTERS
        .iter()
        .zip(&r.coverage.counts)
        .map(|(c, n)| format!("{} {n}", c.name))
        .collect();
    let _ = writeln!(s, "coverage: {}", reached.join(", "));
    let _ = writeln!(s, "checks:");
    verdict_lines(&mut s, &r.verdicts);
    if let Some(e) = &r.error {
        let _ = writeln!(s, "simulation error: {e}");
    }
    let _ = writeln!(s, "trace: {} events, digest {:016x}", r.events, r.digest);
    let _ = writeln!(s, "verdict: {}", if r.passed() { "PASS" } else { "FAIL" });
    s
}

fn verdict_lines(s: &mut String, verdicts: &[Verdict]) {
    for v in verdicts {
        let _ = writeln!(
            s,
            "  {:<14} {:>6} checked  {}",
            v.name,
            v.checked,
            if v.passed() {
                "ok".to_owned()
            } else {
                format!("FAILED ({} violations)", v.count)
            }
        );
        for line in &v.violations {
            let _ = writeln!(s, "      {line}");
        }
        if let Some(n) = &v.note {
            let _ = writeln!(s, "      note: {n}");
        }
    }
}

/// The summary of `corral-sim check`: what the file held and each verdict.
pub fn history_summary(ops: &[Op], verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    let answered = ops.iter().filter(|o| o.answered()).count();
    let _ = writeln!(
        s,
        "history: {} ops ({} writes), {} answered",
        ops.len(),
        ops.iter().filter(|o| o.is_write()).count(),
        answered
    );
    let _ = writeln!(s, "checks:");
    verdict_lines(&mut s, verdicts);
    let passed = verdicts.iter().all(Verdict::passed);
    let inconclusive = verdicts.iter().any(|v| v.note.is_some());
    let _ = writeln!(
        s,
        "verdict: {}",
        match (passed, inconclusive) {
            (false, _) => "FAIL",
            (true, true) => "PASS (search inconclusive)",
            (true, false) => "PASS",
        }
    );
    s
}

/// What to print after a failed run: the end of the trace and the repro command.
pub fn failure_details(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "last trace lines:");
    for l in &r.trace_tail {
        let _ = writeln!(s, "  {l}");
    }
    let _ = writeln!(s, "reproduce with:\n  {}", r.repro_command());
    s
}

/// The header of the sweep table.
pub fn table_header() -> String {
    format!(
        "{:>8} {:>3} {:>4} {:>7} {:>6} {:>6} {:>6} {:>5} {:>5} {:>4} {:>5} {:>7} {:>7}  {:<16} verdict",
        "seed", "srv", "cli", "ops", "ok", "unkn", "fail", "crash", "part", "elec", "syncs", "sim_s", "wall_s", "digest"
    )
}

/// One sweep table row.
pub fn table_row(r: &RunReport) -> String {
    let failed: Vec<&str> = r
        .verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| v.name)
        .collect();
    let noted = |prefix: &str| {
        r.verdicts
            .iter()
            .any(|v| v.note.as_deref().is_some_and(|n| n.starts_with(prefix)))
    };
    let verdict = if r.passed() && noted("tolerated") {
        "pass (known core bug tolerated)".to_owned()
    } else if r.passed() && noted("inconclusive") {
        "pass (search inconclusive)".to_owned()
    } else if r.passed() {
        "pass".to_owned()
    } else if r.error.is_some() {
        "FAIL (simulation error)".to_owned()
    } else {
        format!("FAIL ({})", failed.join(", "))
    };
    let z = &r.zab;
    format!(
        "{:>8} {:>3} {:>4} {:>7} {:>6} {:>6} {:>6} {:>5} {:>5} {:>4} {:>5} {:>7.1} {:>7.2}  {:016x} {}",
        r.seed,
        r.servers,
        r.clients,
        r.ops.total,
        r.ops.ok,
        r.ops.unknown + r.ops.unanswered,
        r.ops.failed,
        r.faults.crashes,
        r.faults.partitions,
        z.established,
        z.sync_diff + z.sync_trunc + z.sync_snap,
        r.sim_ms as f64 / 1000.0,
        r.wall.as_secs_f64(),
        r.digest,
        verdict
    )
}

/// The coverage totals of a sweep of `seeds` seeds: each counter, how many it reached in
/// total, and whether it is required.
pub fn coverage_table(cov: &Coverage, seeds: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "coverage over {seeds} seeds (required counters fail a sweep of {REQUIRED_FROM_SEEDS}+ seeds at zero):"
    );
    let _ = writeln!(
        s,
        "  {:<26} {:>8}  {:<9} what",
        "counter", "total", "required"
    );
    for (c, n) in COUNTERS.iter().zip(&cov.counts) {
        if !cov.applies(c) {
            let _ = writeln!(
                s,
                "  {:<26} {:>8}  {:<9} {} (not applicable: no ensemble ran)",
                c.name, "n/a", "n/a", c.what
            );
            continue;
        }
        let status = match (c.required, *n) {
            (false, _) => "no",
            (true, 0) => "MISSING",
            (true, _) => "yes",
        };
        let scope = if c.scope == Scope::Ensemble {
            " [ensembles]"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:<26} {:>8}  {:<9} {}{scope}",
            c.name, n, status, c.what
        );
    }
    s
}
