//! ZooKeeper 3.8.0 conformance: replay the recorded vectors (tests/conformance/vectors)
//! against the `corral` binary and require every scenario to pass, deliberate differences
//! applied. Also checks that the harness itself can fail and that the vectors match the
//! catalogue. See docs/conformance.md.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use corral_tests::conformance::catalogue;
use corral_tests::conformance::compare::{compare, expected_for};
use corral_tests::conformance::runner::{RunOptions, SimpleSession, Target};
use corral_tests::conformance::vector::Vector;
use corral_tests::conformance::{check, print_reports};
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/vectors")
}

/// `CORRAL_BIN`, else `$CARGO_TARGET_DIR/debug/corral`, else `<workspace>/target/debug/corral`.
fn corral_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CORRAL_BIN") {
        return PathBuf::from(p);
    }
    let target = match std::env::var("CARGO_TARGET_DIR") {
        Ok(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Ok(t) => workspace_root().join(t),
        Err(_) => workspace_root().join("target"),
    };
    let bin = target.join("debug").join("corral");
    assert!(
        bin.exists(),
        "the corral binary was not found at {}: build it first with `cargo build -p corral-net` \
         (same CARGO_TARGET_DIR), or point CORRAL_BIN at it",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A `corral server` child process, killed and cleaned up on drop.
struct Server {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Server {
    fn start(bin: &Path) -> Server {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("corral-conformance-{}-{port}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data")).expect("temp dir");
        let cfg = dir.join("zoo.cfg");
        fs::write(
            &cfg,
            format!(
                "tickTime=2000\n\
                 dataDir={}\n\
                 clientPort={port}\n\
                 clientPortAddress=127.0.0.1\n\
                 4lw.commands.whitelist=*\n\
                 zookeeper.extendedTypesEnabled=true\n\
                 znode.container.checkIntervalMs=1000\n",
                dir.join("data").display()
            ),
        )
        .expect("write zoo.cfg");
        let log = fs::File::create(dir.join("server.log")).expect("log file");
        let child = Command::new(bin)
            .args(["server", "--config"])
            .arg(&cfg)
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut s = Server {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        s.wait_ready();
        s
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("corral exited early ({status}):\n{}", self.log());
            }
            // Serving means a handshake succeeds, not just an accepted TCP connection.
            let opts = RunOptions::new(self.addr, Target::Corral);
            if let Ok(Some(session)) = SimpleSession::open(&opts, None) {
                session.close().expect("closing the readiness session");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "corral did not listen on {} within 30 s:\n{}",
                self.addr,
                self.log()
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn corral_matches_zookeeper_3_8_0() {
    let bin = corral_bin();
    let server = Server::start(&bin);
    let opts = RunOptions::new(server.addr, Target::Corral);
    let reports = check(&opts, &vectors_dir(), &[]).expect("vectors load");
    let all_passed = print_reports(&reports);
    if !all_passed {
        eprintln!("--- corral log ---\n{}", server.log());
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "scenarios differing from ZooKeeper 3.8.0: {failed:?}"
    );
}

fn load(name: &str) -> Vector {
    Vector::load(&vectors_dir().join(Vector::file_name(name))).expect("vector")
}

/// What a perfect server would produce: the expected outcome of every step.
fn perfect(v: &Vector, target: Target) -> Vec<Option<Vec<Value>>> {
    v.steps
        .iter()
        .map(|s| expected_for(s, target).expect("patches apply"))
        .collect()
}

#[test]
fn comparer_detects_a_changed_field() {
    let v = load("setdata_basic");
    let mut actual = perfect(&v, Target::Corral);
    assert!(compare(&v, &actual, Target::Corral).is_empty());

    // Bump the version in the Stat of the first setData reply (step 3).
    let stat = &mut actual[3].as_mut().unwrap()[0]["reply"]["body"]["stat"];
    stat["version"] = Value::from(stat["version"].as_i64().unwrap() + 1);
    let diffs = compare(&v, &actual, Target::Corral);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].contains("reply.body.stat.version"), "{}", diffs[0]);

    // A missing notification is caught too.
    let v = load("watch_create_event_order");
    let mut actual = perfect(&v, Target::Corral);
    let events = actual
        .iter_mut()
        .flatten()
        .find(|o| o[0].get("event").is_some())
        .unwrap();
    events.remove(0);
    assert!(!compare(&v, &actual, Target::Corral).is_empty());
}

#[test]
fn deliberate_differences_apply_only_to_corral() {
    let v = load("exists_without_read");
    let zk = perfect(&v, Target::ZooKeeper);
    let corral = perfect(&v, Target::Corral);
    // The recording (a Stat) is what ZooKeeper must give and what Corral must not.
    assert!(compare(&v, &zk, Target::ZooKeeper).is_empty());
    assert!(!compare(&v, &zk, Target::Corral).is_empty());
    assert!(compare(&v, &corral, Target::Corral).is_empty());

    // A step never sent to ZooKeeper is skipped there and required from Corral.
    let v = load("check_outside_multi");
    let zk = perfect(&v, Target::ZooKeeper);
    assert!(zk.iter().any(Option::is_none));
    assert!(!compare(&v, &zk, Target::Corral).is_empty());
}

#[test]
fn vectors_match_the_catalogue() {
    let vectors = Vector::load_dir(&vectors_dir()).expect("vectors");
    let catalogue = catalogue::all();
    let names: Vec<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    let expected: Vec<&str> = catalogue.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names, expected,
        "re-record with scripts/record-conformance.sh"
    );
    for (seq, (v, sc)) in vectors.iter().zip(&catalogue).enumerate() {
        assert_eq!(v.seq, seq, "{}", v.name);
        assert_eq!(
            &v.scenario(),
            sc,
            "{}: steps changed since recording; re-record",
            v.name
        );
        for (i, s) in v.steps.iter().enumerate() {
            let recorded = s.recorded.is_some();
            assert_eq!(recorded, !s.spec.zk_skip, "{} step {i}", v.name);
            expected_for(s, Target::Corral).unwrap_or_else(|e| panic!("{} step {i}: {e}", v.name));
        }
    }
}
