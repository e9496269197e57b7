//! Comparing a replay with a recorded vector, field by field.
//!
//! The expected outcome of a step is what ZooKeeper sent, except where the step carries a
//! deliberate Corral difference and the target is Corral: then it is the hand-written
//! replacement, or the recording with the listed JSON-pointer patches applied.

use serde_json::Value;

use super::runner::{RunOptions, Runner, Target};
use super::vector::{Vector, VectorStep};

/// The expected outcome of `step` on `target`; `Ok(None)` when the step is not run there.
pub fn expected_for(step: &VectorStep, target: Target) -> Result<Option<Vec<Value>>, String> {
    if target == Target::ZooKeeper {
        return Ok(if step.spec.zk_skip {
            None
        } else {
            step.recorded.clone()
        });
    }
    let Some(c) = &step.spec.corral else {
        return Ok(step.recorded.clone());
    };
    if let Some(r) = &c.replace {
        return Ok(Some(r.clone()));
    }
    let mut v = Value::Array(step.recorded.clone().unwrap_or_default());
    for p in &c.patch {
        match v.pointer_mut(&p.pointer) {
            Some(slot) => *slot = p.value.clone(),
            None => return Err(format!("patch pointer {} matches nothing", p.pointer)),
        }
    }
    match v {
        Value::Array(a) => Ok(Some(a)),
        _ => unreachable!("patched value stays an array"),
    }
}

/// Append one line per differing field, with its path under `at`.
pub fn diff_values(at: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{at}.{k}");
                match a.get(k) {
                    Some(av) => diff_values(&p, ev, av, out),
                    None => out.push(format!("{p}: expected {ev}, missing")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{at}.{k}: unexpected {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let p = format!("{at}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => diff_values(&p, ev, av, out),
                    (Some(ev), None) => out.push(format!("{p}: expected {ev}, missing")),
                    (None, Some(av)) => out.push(format!("{p}: unexpected {av}")),
                    (None, None) => {}
                }
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(format!("{at}: expected {e}, got {a}")),
    }
}

/// The outcome of checking one vector.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: String,
    /// Field-level differences, each prefixed with the step.
    pub diffs: Vec<String>,
    /// Housekeeping failures (not differences, but they can break later scenarios).
    pub warnings: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Compare replayed outcomes with a vector.
pub fn compare(vector: &Vector, actual: &[Option<Vec<Value>>], target: Target) -> Vec<String> {
    let mut diffs = Vec::new();
    for (i, (step, got)) in vector.steps.iter().zip(actual).enumerate() {
        let label = format!("step {i} ({})", step.spec.step.label());
        let want = match expected_for(step, target) {
            Ok(w) => w,
            Err(e) => {
                diffs.push(format!("{label}: {e}"));
                continue;
            }
        };
        match (want, got) {
            (None, None) => {}
            (Some(w), Some(g)) => {
                let mut d = Vec::new();
                diff_values("", &Value::Array(w), &Value::Array(g.clone()), &mut d);
                diffs.extend(d.into_iter().map(|x| format!("{label}: received{x}")));
            }
            (Some(_), None) => diffs.push(format!("{label}: not executed")),
            (None, Some(_)) => diffs.push(format!("{label}: executed but nothing recorded")),
        }
    }
    if actual.len() != vector.steps.len() {
        diffs.push(format!(
            "ran {} steps, vector has {}",
            actual.len(),
            vector.steps.len()
        ));
    }
    diffs
}

/// Replay one vector against a server and compare.
pub fn check(vector: &Vector, opts: &RunOptions) -> Report {
    let result = Runner::new(opts).run(&vector.scenario());
    Report {
        name: vector.name.clone(),
        diffs: compare(vector, &result.outcomes, opts.target),
        warnings: result.cleanup_problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_the_changed_field() {
        let e = json!([{ "reply": { "xid": 1, "err": 0, "body": { "stat": { "version": 1 } } } }]);
        let a = json!([{ "reply": { "xid": 1, "err": 0, "body": { "stat": { "version": 2 } } } }]);
        let mut d = Vec::new();
        diff_values("", &e, &a, &mut d);
        assert_eq!(d, vec!["[0].reply.body.stat.version: expected 1, got 2"]);
    }

    #[test]
    fn diff_reports_missing_and_extra_items() {
        let mut d = Vec::new();
        diff_values("", &json!(["closed"]), &json!([]), &mut d);
        assert_eq!(d, vec!["[0]: expected \"closed\", missing"]);
        d.clear();
        diff_values("", &json!([]), &json!([{ "event": {} }]), &mut d);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("unexpected"));
    }
}
