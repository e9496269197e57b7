//! Shared helpers for the cross-crate integration tests in `tests/tests/*.rs`.
//!
//! The heart is [`TestServer`]: one server process on a free loopback port, chosen by the
//! `CORRAL_E2E_SERVER` environment variable so that every end-to-end test runs unchanged
//! against either server:
//!
//! * `corral` (the default): `$CORRAL_BIN server --config DIR/zoo.cfg` (see [`corral_bin`]
//!   for where the binary is looked for when `CORRAL_BIN` is unset);
//! * `zookeeper`: the Debian build of Apache ZooKeeper 3.8.0, launched through
//!   `scripts/zk-server.sh run PORT DIR` (which execs the JVM, so the child is the server).
//!
//! Readiness is a real ZooKeeper handshake, every wait is bounded, and the process is
//! killed when the [`TestServer`] is dropped (also when a test panics). Where `setpriv`
//! exists the child also gets a parent-death signal, so a test binary that is itself
//! killed does not leave a server behind.

/// The ZooKeeper conformance harness (raw client, catalogue, recorder, comparer).
pub mod conformance;
/// Ensembles of real server processes.
pub mod ensemble;

pub use ensemble::TestEnsemble;

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take from spawn to answering a handshake.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the process is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which server the end-to-end tests talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// Corral's own `corral` binary.
    Corral,
    /// Apache ZooKeeper 3.8.0 from Debian, the compatibility oracle.
    ZooKeeper,
}

impl ServerKind {
    /// Reads `CORRAL_E2E_SERVER` (`corral`, the default, or `zookeeper`).
    ///
    /// # Panics
    /// On any other value, so that a typo cannot silently test the wrong server.
    pub fn from_env() -> ServerKind {
        match std::env::var("CORRAL_E2E_SERVER").as_deref() {
            Err(_) | Ok("") | Ok("corral") => ServerKind::Corral,
            Ok("zookeeper") => ServerKind::ZooKeeper,
            Ok(other) => panic!("CORRAL_E2E_SERVER must be 'corral' or 'zookeeper', not {other:?}"),
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Corral => "corral",
            ServerKind::ZooKeeper => "zookeeper",
        })
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The `corral` binary under test: `$CORRAL_BIN`; else `corral` in the profile directory
/// of this test executable (`target/debug/deps/x-hash` -> `target/debug/corral`), which
/// follows `CARGO_TARGET_DIR` and the profile; else `debug/corral` under
/// `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn corral_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CORRAL_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|profile| profile.join("corral")));
    if let Some(bin) = beside_tests.filter(|p| p.is_file()) {
        return bin;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug").join("corral")
}

/// A port that was free on 127.0.0.1 a moment ago (picked by the kernel), and that this
/// process has not handed out before: the kernel may pick a just-closed port again, and a
/// test that asks for several ports before binding any must get distinct ones.
pub fn free_port() -> io::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
}

/// The zoo.cfg given to Corral. `scripts/zk-server.sh` writes the same settings for
/// ZooKeeper, passing the extended-types and container-interval ones as JVM system
/// properties, which is where ZooKeeper reads them.
pub fn zoo_cfg(port: u16, data_dir: &Path) -> String {
    format!(
        "tickTime=2000\n\
         initLimit=10\n\
         syncLimit=5\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         4lw.commands.whitelist=*\n\
         zookeeper.extendedTypesEnabled=true\n\
         znode.container.checkIntervalMs=1000\n\
         snapCount=100\n\
         autopurge.purgeInterval=1\n",
        data_dir.display()
    )
}

fn read_exact_timeout(stream: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let len = read_exact_timeout(stream, 4)?;
    let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    // A handshake or close reply is tiny; anything else means we are not talking to a
    // ZooKeeper-compatible server.
    if !(0..=1024).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len}"),
        ));
    }
    read_exact_timeout(stream, len as usize)
}

/// Opens a session with a raw ConnectRequest, then closes it with closeSession.
///
/// Returns the negotiated session timeout in ms. Errors while the server is not serving
/// sessions yet (connection refused, closed, or an invalid-session answer).
pub fn handshake(port: u16, timeout: Duration) -> io::Result<i32> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // ConnectRequest: protocolVersion 0, lastZxidSeen 0, timeOut 4000, sessionId 0,
    // passwd (16 zero bytes), readOnly false: 45 bytes.
    let mut body = Vec::with_capacity(49);
    body.extend_from_slice(&45i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&4000i32.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[0u8; 16]);
    body.push(0);
    stream.write_all(&body)?;
    let reply = read_frame(&mut stream)?;
    if reply.len() < 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short ConnectResponse",
        ));
    }
    let negotiated = i32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]);
    if negotiated <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "session refused",
        ));
    }
    // closeSession: RequestHeader{xid 1, type -11}; wait for its reply so the session is
    // gone before the test starts.
    let mut close = Vec::with_capacity(12);
    close.extend_from_slice(&8i32.to_be_bytes());
    close.extend_from_slice(&1i32.to_be_bytes());
    close.extend_from_slice(&(-11i32).to_be_bytes());
    stream.write_all(&close)?;
    read_frame(&mut stream)?;
    Ok(negotiated)
}

/// Sends a four-letter word and returns the whole answer.
pub fn four_letter(port: u16, cmd: &str, timeout: Duration) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(cmd.as_bytes())?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Finds an external tool: `$env_var` if set, else the first existing candidate path.
pub fn find_tool(env_var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// One server process under test on `127.0.0.1:port`, with its data directory in a temp
/// dir that outlives restarts (so [`TestServer::kill9`] then [`TestServer::start_again`]
/// recovers from the same disk). Dropping it kills the process and removes the directory.
pub struct TestServer {
    kind: ServerKind,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl TestServer {
    /// Starts the server chosen by `CORRAL_E2E_SERVER` and waits until it serves sessions.
    ///
    /// # Panics
    /// If it cannot be started within [`START_TIMEOUT`]; the message carries its log.
    pub fn start() -> TestServer {
        let kind = ServerKind::from_env();
        TestServer::try_start(kind).unwrap_or_else(|e| panic!("starting {kind} failed: {e}"))
    }

    /// Starts a server of the given kind on a free port in a fresh temp dir.
    pub fn try_start(kind: ServerKind) -> io::Result<TestServer> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-e2e-{kind}-"))
            .tempdir()?;
        fs::create_dir_all(dir.path().join("data"))?;
        let mut server = TestServer {
            kind,
            port: free_port()?,
            dir,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The client port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the connect string for clients.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The directory holding zoo.cfg, data/ and server.log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn command(&self) -> io::Result<Command> {
        let dir = self.dir.path();
        let (program, args): (PathBuf, Vec<String>) = match self.kind {
            ServerKind::ZooKeeper => (
                workspace_root().join("scripts").join("zk-server.sh"),
                vec![
                    "run".into(),
                    self.port.to_string(),
                    dir.display().to_string(),
                ],
            ),
            ServerKind::Corral => {
                let bin = corral_bin();
                if !bin.is_file() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "corral binary not found at {}: build it (cargo build -p corral-net), \
                             set CORRAL_BIN, or run with CORRAL_E2E_SERVER=zookeeper",
                            bin.display()
                        ),
                    ));
                }
                let cfg = dir.join("zoo.cfg");
                fs::write(&cfg, zoo_cfg(self.port, &dir.join("data")))?;
                (
                    bin,
                    vec![
                        "server".into(),
                        "--config".into(),
                        cfg.display().to_string(),
                    ],
                )
            }
        };
        // setpriv execs the program in place and sets PR_SET_PDEATHSIG, which survives
        // the exec chain (setpriv -> bash -> java), so the server dies with the test.
        let setpriv = Path::new("/usr/bin/setpriv");
        let mut cmd = if setpriv.is_file() {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).current_dir(dir);
        Ok(cmd)
    }

    fn spawn(&mut self) -> io::Result<()> {
        assert!(self.child.is_none(), "server already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = self
            .command()?
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_err = None;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{} exited with {status} during startup\n{}",
                    self.kind,
                    self.log_tail(40)
                )));
            }
            match handshake(self.port, Duration::from_secs(2)) {
                Ok(_) => return Ok(()),
                Err(e) => last_err = Some(e),
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.kill9();
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{} did not serve 127.0.0.1:{} within {:?} (last error: {last_err:?})\n{}",
                self.kind,
                self.port,
                START_TIMEOUT,
                self.log_tail(40)
            ),
        ))
    }

    /// Starts the server again on the same port and data directory, after
    /// [`TestServer::kill9`] or [`TestServer::stop`].
    ///
    /// # Panics
    /// If it does not come back within [`START_TIMEOUT`].
    pub fn start_again(&mut self) {
        self.spawn()
            .unwrap_or_else(|e| panic!("restarting {} failed: {e}", self.kind));
    }

    /// SIGKILL: no shutdown hook runs, only what was synced to disk survives.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful stop: SIGTERM (via `kill`), then SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if terminated {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends a four-letter word to this server.
    pub fn four_letter(&self, cmd: &str) -> io::Result<String> {
        four_letter(self.port, cmd, Duration::from_secs(5))
    }

    /// The last `lines` lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        match fs::read(self.log_path()) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let all: Vec<&str> = text.lines().collect();
                let from = all.len().saturating_sub(lines);
                format!("--- server log (tail) ---\n{}", all[from..].join("\n"))
            }
            Err(e) => format!("(no server log: {e})"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if std::env::var_os("CORRAL_E2E_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::TempDir::new().expect("temp dir"));
            eprintln!("keeping {}", dir.keep().display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_cfg_names_port_and_data_dir() {
        let cfg = zoo_cfg(12345, Path::new("/tmp/x/data"));
        assert!(cfg.contains("clientPort=12345\n"));
        assert!(cfg.contains("dataDir=/tmp/x/data\n"));
        assert!(cfg.contains("clientPortAddress=127.0.0.1\n"));
        assert!(cfg.contains("4lw.commands.whitelist=*\n"));
    }

    #[test]
    fn free_ports_are_distinct_within_a_process() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().expect("free port")).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().expect("free port");
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("port is free");
    }

    #[test]
    fn handshake_fails_without_server() {
        let port = free_port().expect("free port");
        assert!(handshake(port, Duration::from_millis(500)).is_err());
    }
}
