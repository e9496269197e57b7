//! `corral ensemble` through the real binary: the files `--write-only` leaves, and a run
//! that starts the members and stops them all on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound for the binary to answer or stop.
const WAIT: Duration = Duration::from_secs(60);

fn corral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corral"))
}

#[test]
fn write_only_writes_every_member_and_prints_the_connect_string() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ens");
    let out = corral()
        .args([
            "ensemble",
            "--size",
            "3",
            "--base-port",
            "12181",
            "--write-only",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("connect string: 127.0.0.1:12181,127.0.0.1:12182,127.0.0.1:12183\n"),
        "{stdout}"
    );
    for n in 1..=3u16 {
        let cfg = std::fs::read_to_string(dir.join(format!("s{n}/zoo.cfg"))).unwrap();
        let data = dir.join(format!("s{n}/data"));
        for line in [
            "tickTime=2000".to_owned(),
            "initLimit=10".to_owned(),
            "syncLimit=5".to_owned(),
            format!("dataDir={}", data.display()),
            "clientPortAddress=127.0.0.1".to_owned(),
            format!("clientPort={}", 12180 + n),
            "server.1=127.0.0.1:12281:12381".to_owned(),
            "server.2=127.0.0.1:12282:12382".to_owned(),
            "server.3=127.0.0.1:12283:12383".to_owned(),
        ] {
            assert!(
                cfg.lines().any(|l| l == line),
                "s{n} lacks {line:?}:\n{cfg}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(data.join("myid")).unwrap(),
            format!("{n}\n")
        );
        assert!(
            stdout.contains(&format!(
                "server {n}: {}",
                dir.join(format!("s{n}/zoo.cfg")).display()
            )),
            "{stdout}"
        );
    }
    // Again: the same files are fine.
    let again = corral()
        .args([
            "ensemble",
            "--size",
            "3",
            "--base-port",
            "12181",
            "--write-only",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(again.status.success());
    // Different ports on the same directory: refused, with the file named.
    let clash = corral()
        .args([
            "ensemble",
            "--size",
            "3",
            "--base-port",
            "13181",
            "--write-only",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(clash.status.code(), Some(2));
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(
        err.contains("s1/zoo.cfg") && err.contains("different content"),
        "{err}"
    );
}

#[test]
fn bad_arguments_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (size, port) in [("0", "2181"), ("100", "2181"), ("3", "65500")] {
        let out = corral()
            .args([
                "ensemble",
                "--write-only",
                "--size",
                size,
                "--base-port",
                port,
            ])
            .arg("--dir")
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "--size {size} --base-port {port}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("corral ensemble: "), "{err}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// The supervisor starts every member, reports each one's exit, and on SIGTERM stops
/// whatever still runs and exits itself. (Members that cannot run yet exit at once; members
/// that run are stopped by the forwarded signal: both end in one report per member.)
#[cfg(unix)]
#[test]
fn a_run_reports_every_member_and_stops_on_sigterm() {
    use rustix::process::{kill_process, Pid, Signal};

    let tmp = tempfile::tempdir().unwrap();
    let base = 20000 + (std::process::id() % 20000) as u16;
    let mut child = corral()
        .args(["ensemble", "--size", "3", "--base-port", &base.to_string()])
        .arg("--dir")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let want = format!(
        "connect string: 127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
        base,
        base + 1,
        base + 2
    );
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) if line == want => break,
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                panic!("no connect string: {e}");
            }
        }
    }
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    // The supervisor may already have exited (members that cannot run yet).
    let _ = kill_process(pid, Signal::TERM);
    let status = wait_bounded(&mut child);
    let err = err_reader.join().unwrap();
    for n in 1..=3 {
        assert!(
            err.contains(&format!("s{n} exited")),
            "s{n} not reported:\n{err}"
        );
    }
    assert!(
        status.code().is_some(),
        "killed by a signal instead of stopping: {status}"
    );
    assert!(Path::new(&tmp.path().join("s3/data/myid")).exists());
}

#[cfg(unix)]
fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("corral ensemble did not stop within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
