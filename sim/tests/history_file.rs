//! The history file round trip: a simulated run's history, written as JSON lines, passes
//! `corral-sim check`; the same file with one reply changed fails it; malformed lines are
//! refused with their line number.

use std::process::Command;

use corral_sim::check::check_history;
use corral_sim::history_file;
use corral_sim::scenario::Knobs;
use corral_sim::{run, RunOptions};

fn short_run() -> String {
    let opts = RunOptions {
        knobs: Knobs {
            workload_ms: 4000,
            faults: false,
            // `check` holds reads to real time, as a single server does.
            servers: Some(1),
            ..Knobs::default()
        },
        ..RunOptions::default()
    };
    let r = run(11, &opts);
    assert!(r.passed());
    history_file::write(&r.data.ops)
}

/// Replace the data of the first getData reply that returned some with a value no one
/// wrote.
fn damaged(text: &str) -> String {
    let mut done = false;
    text.lines()
        .map(|l| {
            if !done && l.contains(r#""op":"getData""#) && l.contains(r#""reply":{"data":"#) {
                done = true;
                let at = l.find(r#""reply":{"data":""#).unwrap() + r#""reply":{"data":""#.len();
                let end = at + l[at..].find('"').unwrap();
                format!("{}never written{}", &l[..at], &l[end..])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cli(file: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corral-sim"))
        .arg("check")
        .arg(file)
        .output()
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_written_history_parses_back_to_the_same_ops_and_passes() {
    let text = short_run();
    let ops = history_file::parse(&text).expect("parses");
    assert!(ops.len() > 100, "{} ops", ops.len());
    // Writing what was parsed gives the same text: nothing is lost on the way.
    assert_eq!(history_file::write(&ops), text);
    let v = check_history(&ops, 2_000_000);
    assert!(v.iter().all(|v| v.passed() && v.note.is_none()), "{v:?}");
    assert!(v.iter().all(|v| v.checked > 100), "{v:?}");
}

#[test]
fn the_check_command_passes_a_recorded_history_and_fails_a_damaged_one() {
    let dir = std::env::temp_dir().join(format!("corral-sim-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = short_run();
    let good = dir.join("good.jsonl");
    std::fs::write(&good, &text).unwrap();
    let (code, out) = cli(&good);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: PASS\n"), "{out}");

    let bad = dir.join("bad.jsonl");
    let d = damaged(&text);
    assert_ne!(d, text);
    std::fs::write(&bad, d).unwrap();
    let (code, out) = cli(&bad);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("linearizable") && out.contains("FAILED"),
        "{out}"
    );

    let malformed = dir.join("malformed.jsonl");
    let mut lines: Vec<&str> = text.lines().take(3).collect();
    lines.push(r#"{"session":1,"op":"frob","path":"/a","invoke":1,"return":2,"outcome":"ok"}"#);
    std::fs::write(&malformed, lines.join("\n")).unwrap();
    let (code, out) = cli(&malformed);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 4: unknown op \"frob\""), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn malformed_lines_say_where_and_what() {
    let cases = [
        (
            r#"{"session":1,"op":"getData","path":"/a","invoke":1,"return":2,"outcome":"ok"}"#,
            "line 1: the reply needs \"stat\"",
        ),
        (
            r#"{"session":1,"op":"setData","path":"/a","version":-1,"invoke":1,"return":2,"outcome":"failed"}"#,
            "line 1: a failed op needs \"error\"",
        ),
        (
            r#"{"session":1,"op":"delete","path":"/a","invoke":1,"return":2,"outcome":"ok"}"#,
            "line 1: delete needs \"version\"",
        ),
        (
            r#"{"session":1,"op":"exists","path":"/a","invoke":5,"return":2,"outcome":"failed","error":"NoNode"}"#,
            "line 1: returns (2) before it is invoked (5)",
        ),
        (
            r#"{"session":1,"op":"exists","path":"/a","invoke":1,"return":2,"outcome":"failed","error":"NoSuchThing"}"#,
            "line 1: unknown error \"NoSuchThing\"",
        ),
        (
            r#"{"session":1,"op":"exists","path":"/a","invoke":1,"return":2,"outcome":"maybe"}"#,
            "line 1: unknown outcome \"maybe\"",
        ),
        ("not json", "line 1: expected ident"),
    ];
    for (line, want) in cases {
        let text = format!("\n{line}\n");
        let err = history_file::parse(&text).expect_err(line);
        // The blank first line counts.
        let want = want.replace("line 1", "line 2");
        assert!(err.starts_with(&want), "{err} (wanted {want})");
    }
}
