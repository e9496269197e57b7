//! Smoke tests with ZooKeeper's own command-line clients against the server chosen by
//! `CORRAL_E2E_SERVER`: the Java `zkCli.sh` (package `zookeeper`) and the C client's
//! `cli_mt` (package `zookeeper-bin`). `scripts/install-deps.sh` installs both; a test
//! skips, saying why, only when its tool is absent.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use corral_tests::{find_tool, TestServer};

/// Bound for one CLI invocation (a JVM start included) or one expected output line.
const STEP: Duration = Duration::from_secs(60);

fn zkcli() -> Option<PathBuf> {
    find_tool(
        "ZKCLI",
        &["/usr/share/zookeeper/bin/zkCli.sh", "/usr/bin/zkCli.sh"],
    )
}

fn cli_mt() -> Option<PathBuf> {
    find_tool(
        "CLI_MT",
        &["/usr/lib/zookeeper/bin/cli_mt", "/usr/bin/cli_mt"],
    )
}

/// Output of one finished command.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs a command to completion with closed stdin, killing it after [`STEP`].
fn run_bounded(mut cmd: Command) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {STEP:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    Run {
        ok: status.success(),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn zkcli_run(tool: &Path, server: &TestServer, args: &[&str]) -> Run {
    let mut cmd = Command::new(tool);
    cmd.arg("-server").arg(server.connect_string()).args(args);
    // zkCli.sh writes a log file under ZOO_LOG_DIR; keep it in the test's temp dir.
    cmd.env("ZOO_LOG_DIR", server.dir());
    run_bounded(cmd)
}

impl Run {
    /// The lines zkCli.sh printed for its command (results go to stdout, messages such as
    /// "Created /x" and errors to stderr), without connection chatter and logging noise.
    fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with("Connecting to")
                    && !l.starts_with("WATCHER::")
                    && !l.starts_with("WatchedEvent state:")
                    && !l.starts_with("SLF4J:")
            })
            .collect()
    }
}

#[test]
fn zkcli_smoke() {
    let Some(tool) = zkcli() else {
        println!("SKIP zkcli_smoke: zkCli.sh not found (install package zookeeper or set ZKCLI)");
        return;
    };
    let server = TestServer::start();
    let run = |args: &[&str]| zkcli_run(&tool, &server, args);
    let ok = |args: &[&str]| {
        let run = run(args);
        assert!(
            run.ok,
            "zkCli.sh {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        run
    };

    assert_eq!(ok(&["create", "/x", "hello"]).lines(), ["Created /x"]);
    assert_eq!(ok(&["get", "/x"]).lines(), ["hello"]);
    ok(&["set", "/x", "world"]);
    assert_eq!(ok(&["get", "/x"]).lines(), ["world"]);
    let stat = ok(&["stat", "/x"]).stdout;
    assert!(stat.contains("dataVersion = 1\n"), "{stat}");
    assert!(stat.contains("dataLength = 5\n"), "{stat}");
    assert!(stat.contains("ephemeralOwner = 0x0\n"), "{stat}");
    assert!(stat.contains("numChildren = 0\n"), "{stat}");
    assert_eq!(
        ok(&["create", "-s", "/x/seq-", "s"]).lines(),
        ["Created /x/seq-0000000000"]
    );
    assert_eq!(ok(&["create", "/x/child"]).lines(), ["Created /x/child"]);
    assert_eq!(ok(&["ls", "/x"]).lines(), ["[child, seq-0000000000]"]);
    assert_eq!(ok(&["ls", "/"]).lines(), ["[x, zookeeper]"]);
    assert_eq!(ok(&["getAcl", "/x"]).lines(), ["'world,'anyone", ": cdrwa"]);

    // Errors: zkCli.sh reports them in text and exits non-zero.
    let dup = run(&["create", "/x", "again"]);
    assert!(!dup.ok);
    assert_eq!(dup.lines(), ["Node already exists: /x"]);
    let not_empty = run(&["delete", "/x"]);
    assert!(!not_empty.ok);
    assert_eq!(not_empty.lines(), ["Node not empty: /x"]);
    let bad_version = run(&["set", "-v", "7", "/x", "v"]);
    assert!(!bad_version.ok);
    assert_eq!(bad_version.lines(), ["version No is not valid : /x"]);

    ok(&["deleteall", "/x"]);
    let missing = run(&["get", "/x"]);
    assert!(!missing.ok);
    assert_eq!(missing.lines(), ["Node does not exist: /x"]);
}

/// An interactive `cli_mt` session: commands go to its stdin one at a time, and each
/// waits for the line that reports its result (cli_mt prints everything on stderr).
struct CliMt {
    child: Child,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl CliMt {
    fn start(tool: &Path, server: &TestServer) -> CliMt {
        let mut child = Command::new(tool)
            .arg(server.connect_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cli_mt");
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut cli = CliMt {
            child,
            lines,
            transcript: Vec::new(),
        };
        cli.expect(|l| l.contains("state = CONNECTED_STATE"));
        cli
    }

    /// Waits for a line matching `pred`, returning it and the lines seen before it.
    fn expect(&mut self, pred: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let deadline = Instant::now() + STEP;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if pred(&line) {
                        return (line, before);
                    }
                    before.push(line);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "cli_mt: expected line not seen; transcript:\n{}",
                        self.transcript.join("\n")
                    )
                }
            }
        }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").expect("write to cli_mt");
        stdin.flush().expect("flush");
    }

    /// Sends `command` and waits for the line starting with `reply`.
    fn call(&mut self, command: &str, reply: &str) -> (String, Vec<String>) {
        self.send(command);
        self.expect(|l| l.starts_with(reply))
    }
}

impl Drop for CliMt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cli_mt_smoke() {
    let Some(tool) = cli_mt() else {
        println!(
            "SKIP cli_mt_smoke: cli_mt not found (install package zookeeper-bin or set CLI_MT)"
        );
        return;
    };
    let server = TestServer::start();
    let mut cli = CliMt::start(&tool, &server);

    // cli_mt's `create PATH` always stores the 3 bytes "new"; `set PATH DATA` sets data.
    cli.call("create /c", "[/c]: rc = 0");
    cli.call("set /c hello-c", "/c: rc = 0");
    cli.send("get /c");
    let (rc, _) = cli.expect(|l| l.starts_with("/c: rc = "));
    assert_eq!(rc, "/c: rc = 0");
    let (len, _) = cli.expect(|l| l.trim_start().starts_with("value_len = "));
    assert_eq!(len.trim(), "value_len = 7");
    let (value, _) = cli.expect(|l| !l.trim().is_empty());
    assert_eq!(value, "hello-c");

    cli.call("create /c/child", "[/c/child]: rc = 0");
    cli.send("ls /c");
    cli.expect(|l| l == "/c: rc = 0");
    let (child, _) = cli.expect(|l| l.starts_with('\t'));
    assert_eq!(child, "\tchild");

    // Error codes come back as ZooKeeper's numbers.
    cli.call("create /c", "[/c]: rc = -110"); // NodeExists
    cli.call("delete /c", "/c: rc = -111"); // NotEmpty
    cli.call("delete /c/child", "/c/child: rc = 0");
    cli.call("create +e /c/eph", "[/c/eph]: rc = 0");
    cli.call("create /c/eph/x", "[/c/eph/x]: rc = -108"); // NoChildrenForEphemerals
    cli.call("create +s /c/s-", "[/c/s-]: rc = 0");
    // The parent's counter moved with each earlier create (child, eph), not with deletes.
    let (name, _) = cli.expect(|l| l.trim_start().starts_with("name = "));
    assert_eq!(name.trim(), "name = /c/s-0000000002");
    cli.call("delete /c/eph", "/c/eph: rc = 0");
    cli.call("delete /c/s-0000000002", "/c/s-0000000002: rc = 0");
    cli.call("delete /c", "/c: rc = 0");
    cli.send("get /c");
    let (rc, _) = cli.expect(|l| l.starts_with("/c: rc = "));
    assert_eq!(rc, "/c: rc = -101"); // NoNode
    cli.send("quit");
}
