//! `corral ensemble`: write the zoo.cfg and myid files of a local test ensemble, then run
//! one `corral server` child per member until Ctrl-C or termination.
//!
//! Layout for `--size S --dir DIR --base-port P` (member N from 1 to S, all on 127.0.0.1):
//! `DIR/sN/zoo.cfg`, `DIR/sN/data/myid` (containing N), client port `P+N-1`, quorum (peer)
//! port `P+100+N-1`, election port `P+200+N-1` (written for ZooKeeper compatibility, never
//! bound). tickTime 2000, initLimit 10, syncLimit 5. Running the command again on the same
//! directory reuses the files (and the data) if they are unchanged, and refuses otherwise.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::config::myid_path;

/// Most members: the client, quorum and election port ranges are 100 apart.
pub const MAX_SIZE: u16 = 99;
/// Client port of member 1 by default (ZooKeeper's).
pub const DEFAULT_BASE_PORT: u16 = 2181;
/// Written into every member's zoo.cfg.
pub const TICK_MS: u32 = 2000;
pub const INIT_LIMIT: u32 = 10;
pub const SYNC_LIMIT: u32 = 5;

/// How long members get to stop after the signal is forwarded, before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the supervisor looks for members that exited.
const POLL: Duration = Duration::from_millis(100);

/// Why an ensemble could not be written or run.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} exists with different content; remove it (or the whole directory) or choose \
         another --dir"
    )]
    Differs { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EnsembleError + '_ {
    move |source| EnsembleError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where the members of a local ensemble live and listen.
#[derive(Clone, Debug)]
pub struct Layout {
    size: u16,
    dir: PathBuf,
    base_port: u16,
}

impl Layout {
    /// Check the size and ports; `dir` is made absolute (the configs name their data
    /// directories, which must not depend on where a server is started from).
    pub fn new(size: u16, dir: &Path, base_port: u16) -> Result<Layout, EnsembleError> {
        if !(1..=MAX_SIZE).contains(&size) {
            return Err(EnsembleError::Invalid(format!(
                "--size {size}: an ensemble here has 1 to {MAX_SIZE} members"
            )));
        }
        let highest = u32::from(base_port) + 200 + u32::from(size) - 1;
        if base_port == 0 || highest > u32::from(u16::MAX) {
            return Err(EnsembleError::Invalid(format!(
                "--base-port {base_port}: the ports used run from it to base+200+size-1 \
                 ({highest}), which must stay within 1-65535"
            )));
        }
        let dir = std::path::absolute(dir).map_err(io_err(dir))?;
        if dir.to_str().is_none() {
            return Err(EnsembleError::Invalid(format!(
                "{}: the directory path must be UTF-8 (it is written into zoo.cfg)",
                dir.display()
            )));
        }
        Ok(Layout {
            size,
            dir,
            base_port,
        })
    }

    /// Members, 1..=size.
    pub fn members(&self) -> impl Iterator<Item = u16> {
        1..=self.size
    }

    pub fn client_port(&self, n: u16) -> u16 {
        self.base_port + n - 1
    }

    pub fn quorum_port(&self, n: u16) -> u16 {
        self.base_port + 100 + n - 1
    }

    pub fn election_port(&self, n: u16) -> u16 {
        self.base_port + 200 + n - 1
    }

    /// `DIR/sN`.
    pub fn member_dir(&self, n: u16) -> PathBuf {
        self.dir.join(format!("s{n}"))
    }

    /// `DIR/sN/zoo.cfg`.
    pub fn config_path(&self, n: u16) -> PathBuf {
        self.member_dir(n).join("zoo.cfg")
    }

    /// `DIR/sN/data`.
    pub fn data_dir(&self, n: u16) -> PathBuf {
        self.member_dir(n).join("data")
    }

    /// What clients connect to: every member's client address.
    pub fn connect_string(&self) -> String {
        self.members()
            .map(|n| format!("127.0.0.1:{}", self.client_port(n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The zoo.cfg of member `n`.
    pub fn zoo_cfg(&self, n: u16) -> String {
        let data = self.data_dir(n);
        // The path is UTF-8 (checked in new); a backslash would start a properties escape.
        let data = data.to_string_lossy().replace('\\', "\\\\");
        let mut s = format!(
            "# Written by `corral ensemble`: server {n} of {size}, all on 127.0.0.1.\n\
             tickTime={TICK_MS}\ninitLimit={INIT_LIMIT}\nsyncLimit={SYNC_LIMIT}\n\
             dataDir={data}\nclientPortAddress=127.0.0.1\nclientPort={port}\n",
            size = self.size,
            port = self.client_port(n),
        );
        for m in self.members() {
            s.push_str(&format!(
                "server.{m}=127.0.0.1:{}:{}\n",
                self.quorum_port(m),
                self.election_port(m)
            ));
        }
        s
    }

    /// Write every member's zoo.cfg and myid (creating directories). Files that already hold
    /// exactly this content are left alone; any other existing content is an error, and
    /// nothing is written then.
    pub fn write(&self) -> Result<(), EnsembleError> {
        let files: Vec<(PathBuf, String)> = self
            .members()
            .flat_map(|n| {
                [
                    (self.config_path(n), self.zoo_cfg(n)),
                    (myid_path(&self.data_dir(n)), format!("{n}\n")),
                ]
            })
            .collect();
        for (path, text) in &files {
            match std::fs::read(path) {
                Ok(old) if old == text.as_bytes() => {}
                Ok(_) => return Err(EnsembleError::Differs { path: path.clone() }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        for n in self.members() {
            let data = self.data_dir(n);
            std::fs::create_dir_all(&data).map_err(io_err(&data))?;
        }
        for (path, text) in &files {
            std::fs::write(path, text).map_err(io_err(path))?;
        }
        Ok(())
    }
}

/// Run `exe server --config DIR/sN/zoo.cfg` for every member, prefixing their output with
/// `[sN]`, until Ctrl-C or SIGTERM (forwarded to the members as SIGTERM) or until every
/// member has exited. True if it ended by a signal and every member stopped cleanly.
pub async fn supervise(layout: &Layout, exe: &Path) -> Result<bool, EnsembleError> {
    // Registered before any member starts: a signal from then on is ours to forward, never
    // the default action that would leave the members running.
    let mut signals = Signals::new().map_err(io_err(Path::new("signal handlers")))?;
    let mut members: Vec<(u16, Child)> = Vec::new();
    let mut forwards = Vec::new();
    for n in layout.members() {
        let config = layout.config_path(n);
        let spawned = Command::new(exe)
            .arg("server")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Should this process die abruptly, members are not left behind by a panic.
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err(exe));
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                stop(&mut members, STOP_GRACE).await;
                return Err(e);
            }
        };
        if let Some(out) = child.stdout.take() {
            forwards.push(tokio::spawn(forward(out, n, false)));
        }
        if let Some(err) = child.stderr.take() {
            forwards.push(tokio::spawn(forward(err, n, true)));
        }
        members.push((n, child));
    }
    println!("connect string: {}", layout.connect_string());
    let mut clean = true;
    let signalled = loop {
        tokio::select! {
            () = signals.recv() => break true,
            _ = tokio::time::sleep(POLL) => {
                clean &= reap(&mut members);
                if members.is_empty() {
                    eprintln!("corral ensemble: every server has exited");
                    break false;
                }
            }
        }
    };
    clean &= stop(&mut members, STOP_GRACE).await;
    // The members' last words (their shutdown messages) are still in the pipes.
    for f in forwards {
        let _ = tokio::time::timeout(Duration::from_secs(1), f).await;
    }
    Ok(signalled && clean)
}

/// Forward SIGTERM to the members still running, wait for them (killing those that take
/// longer than `grace`); true if all exited successfully.
async fn stop(members: &mut Vec<(u16, Child)>, grace: Duration) -> bool {
    for (n, child) in members.iter() {
        terminate(*n, child);
    }
    let deadline = Instant::now() + grace;
    let mut clean = true;
    while !members.is_empty() {
        clean &= reap(members);
        if Instant::now() >= deadline {
            for (n, child) in members.iter_mut() {
                eprintln!("corral ensemble: s{n} did not stop in time; killing it");
                let _ = child.start_kill();
            }
            for (_, child) in members.iter_mut() {
                let _ = child.wait().await;
            }
            members.clear();
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    clean
}

/// Remove the members that have exited, reporting each; true if all of those succeeded.
fn reap(members: &mut Vec<(u16, Child)>) -> bool {
    let mut clean = true;
    members.retain_mut(|(n, child)| match child.try_wait() {
        Ok(None) => true,
        Ok(Some(status)) => {
            clean &= status.success();
            report_exit(*n, status);
            false
        }
        Err(e) => {
            eprintln!("corral ensemble: cannot check on s{n}: {e}");
            clean = false;
            false
        }
    });
    clean
}

fn report_exit(n: u16, status: ExitStatus) {
    eprintln!("corral ensemble: s{n} exited ({status})");
}

#[cfg(unix)]
fn terminate(n: u16, child: &Child) {
    use rustix::process::{kill_process, Pid, Signal};
    // No id once reaped: then there is nothing to signal (and no pid to confuse).
    let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) else {
        return;
    };
    if let Err(e) = kill_process(pid, Signal::TERM) {
        eprintln!("corral ensemble: cannot signal s{n}: {e}");
    }
}

#[cfg(not(unix))]
fn terminate(_n: u16, _child: &Child) {
    // No SIGTERM: the grace period ends with a kill.
}

async fn forward(out: impl AsyncRead + Unpin, n: u16, is_stderr: bool) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_stderr {
            eprintln!("[s{n}] {line}");
        } else {
            println!("[s{n}] {line}");
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from creation on.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Ctrl-C.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn recv(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use corral_core::types::ServerId;

    /// A stand-in member: a shell that says "ready" once its SIGTERM handling is set.
    #[cfg(unix)]
    async fn member(on_term: &str) -> Child {
        let script = format!("trap '{on_term}' TERM; echo ready; while :; do sleep 0.05; done");
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        assert_eq!(ready.unwrap().unwrap().as_deref(), Some("ready"));
        child
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn stop_forwards_sigterm_and_kills_the_stubborn() {
        let mut members = vec![(1, member("exit 0").await), (2, member("exit 0").await)];
        assert!(stop(&mut members, Duration::from_secs(30)).await);
        assert!(members.is_empty());
        // A member that exits with an error on SIGTERM makes the stop unclean.
        let mut members = vec![(1, member("exit 3").await)];
        assert!(!stop(&mut members, Duration::from_secs(30)).await);
        // One that ignores SIGTERM is killed after the grace period.
        let mut members = vec![(1, member("").await), (2, member("exit 0").await)];
        assert!(!stop(&mut members, Duration::from_millis(300)).await);
        assert!(members.is_empty());
    }

    #[test]
    fn layout_ports_and_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::new(3, tmp.path(), 2181).unwrap();
        assert_eq!(
            l.members()
                .map(|n| (l.client_port(n), l.quorum_port(n), l.election_port(n)))
                .collect::<Vec<_>>(),
            vec![(2181, 2281, 2381), (2182, 2282, 2382), (2183, 2283, 2383)]
        );
        assert_eq!(l.config_path(2), tmp.path().join("s2/zoo.cfg"));
        assert_eq!(l.data_dir(3), tmp.path().join("s3/data"));
        assert_eq!(
            l.connect_string(),
            "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183"
        );
        let want = format!(
            "# Written by `corral ensemble`: server 2 of 3, all on 127.0.0.1.\n\
             tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
             clientPortAddress=127.0.0.1\nclientPort=2182\n\
             server.1=127.0.0.1:2281:2381\nserver.2=127.0.0.1:2282:2382\n\
             server.3=127.0.0.1:2283:2383\n",
            tmp.path().join("s2/data").display()
        );
        assert_eq!(l.zoo_cfg(2), want);
    }

    #[test]
    fn bad_sizes_and_ports_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for (size, port, want) in [
            (0, 2181, "--size 0"),
            (100, 2181, "--size 100"),
            (3, 0, "--base-port 0"),
            (3, 65400, "--base-port 65400"),
        ] {
            let err = Layout::new(size, tmp.path(), port).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        // The highest port allowed: base + 200 + size - 1 = 65535.
        assert!(Layout::new(3, tmp.path(), 65333).is_ok());
    }

    #[test]
    fn relative_dirs_become_absolute() {
        let l = Layout::new(1, Path::new("some/dir"), 2181).unwrap();
        assert!(l.config_path(1).is_absolute());
        assert!(l.config_path(1).ends_with("some/dir/s1/zoo.cfg"));
    }

    /// The written files parse back into the ensemble they describe, member by member.
    #[test]
    fn written_configs_load_as_that_ensemble() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::new(3, tmp.path(), 12181).unwrap();
        l.write().unwrap();
        for n in l.members() {
            let myid = std::fs::read_to_string(l.data_dir(n).join("myid")).unwrap();
            assert_eq!(myid, format!("{n}\n"));
            let c = Config::load(&l.config_path(n)).unwrap();
            let e = c.ensemble.clone().expect("ensemble mode");
            assert_eq!(e.my_id, ServerId(u64::from(n)));
            assert_eq!(e.peers.len(), 3);
            assert_eq!(e.me().unwrap().quorum_port, l.quorum_port(n));
            assert_eq!(
                e.peer_listen_addr().unwrap(),
                format!("127.0.0.1:{}", l.quorum_port(n)).parse().unwrap()
            );
            assert_eq!((e.init_limit, e.sync_limit), (INIT_LIMIT, SYNC_LIMIT));
            assert_eq!(c.server.tick_time_ms, i64::from(TICK_MS));
            assert_eq!(c.data_dir, l.data_dir(n));
            assert_eq!(
                c.client_addr,
                format!("127.0.0.1:{}", l.client_port(n)).parse().unwrap()
            );
        }
    }

    #[test]
    fn rewriting_keeps_identical_files_and_refuses_others() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout::new(3, tmp.path(), 2181).unwrap();
        l.write().unwrap();
        // Data written by a server meanwhile stays.
        std::fs::write(l.data_dir(1).join("keep"), "x").unwrap();
        l.write().unwrap();
        assert!(l.data_dir(1).join("keep").exists());
        // Another base port changes every zoo.cfg: refused, and nothing is touched.
        let other = Layout::new(3, tmp.path(), 3181).unwrap();
        match other.write() {
            Err(e @ EnsembleError::Differs { .. }) => {
                assert!(e.to_string().contains("s1/zoo.cfg"), "{e}")
            }
            r => panic!("expected Differs, got {r:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(l.config_path(3)).unwrap(),
            l.zoo_cfg(3)
        );
        // A changed myid is refused too.
        std::fs::write(l.data_dir(2).join("myid"), "7\n").unwrap();
        match l.write() {
            Err(e @ EnsembleError::Differs { .. }) => {
                assert!(e.to_string().contains("s2/data/myid"), "{e}")
            }
            r => panic!("expected Differs, got {r:?}"),
        }
    }
}
