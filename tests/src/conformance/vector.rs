//! Recorded vectors: one JSON file per scenario holding its steps and, for each step,
//! what ZooKeeper 3.8.0 sent back (normalised).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{Scenario, StepSpec};

/// Version of the vector file layout.
pub const FORMAT: u32 = 1;

/// A step and what ZooKeeper answered (`null` when the step is not sent to ZooKeeper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorStep {
    #[serde(flatten)]
    pub spec: StepSpec,
    pub recorded: Option<Vec<Value>>,
}

/// One recorded scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vector {
    pub format: u32,
    /// Position in the catalogue; replays run in this order.
    pub seq: usize,
    pub name: String,
    pub description: String,
    pub root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_difference: Option<String>,
    #[serde(default)]
    pub order_dependent: bool,
    pub steps: Vec<VectorStep>,
}

impl Vector {
    /// Pair a scenario with its recorded outcomes.
    pub fn new(seq: usize, sc: &Scenario, outcomes: Vec<Option<Vec<Value>>>) -> Vector {
        assert_eq!(sc.steps.len(), outcomes.len(), "one outcome per step");
        Vector {
            format: FORMAT,
            seq,
            name: sc.name.clone(),
            description: sc.description.clone(),
            root: sc.root.clone(),
            expected_difference: sc.expected_difference.clone(),
            order_dependent: sc.order_dependent,
            steps: sc
                .steps
                .iter()
                .cloned()
                .zip(outcomes)
                .map(|(spec, recorded)| VectorStep { spec, recorded })
                .collect(),
        }
    }

    /// The scenario the vector was recorded from.
    pub fn scenario(&self) -> Scenario {
        Scenario {
            name: self.name.clone(),
            description: self.description.clone(),
            root: self.root.clone(),
            expected_difference: self.expected_difference.clone(),
            order_dependent: self.order_dependent,
            steps: self.steps.iter().map(|s| s.spec.clone()).collect(),
        }
    }

    /// The file a vector is stored in.
    pub fn file_name(name: &str) -> String {
        format!("{name}.json")
    }

    /// Write as pretty JSON with a trailing newline.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, String> {
        let path = dir.join(Self::file_name(&self.name));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// Read one vector file.
    pub fn load(path: &Path) -> Result<Vector, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Vector =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if v.format != FORMAT {
            return Err(format!(
                "{}: format {} != {FORMAT}",
                path.display(),
                v.format
            ));
        }
        Ok(v)
    }

    /// Every vector in `dir`, in catalogue order.
    pub fn load_dir(dir: &Path) -> Result<Vec<Vector>, String> {
        let mut out = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(Vector::load(&p)?);
            }
        }
        out.sort_by_key(|v| v.seq);
        Ok(out)
    }
}
