//! [`TestEnsemble`]: a 3- or 5-server ensemble of real processes on loopback, Corral or
//! Apache ZooKeeper 3.8.0 (chosen by `CORRAL_E2E_SERVER`, like [`crate::TestServer`]).
//!
//! Every member gets a zoo.cfg with the same `server.N=127.0.0.1:quorumPort:electionPort`
//! lines (tickTime 500 ms so elections and timeouts fit a test's time) and a `myid`.
//! ZooKeeper members run through `scripts/zk-server.sh run-config DIR`. Ready means every
//! running member answers `srvr` with `Mode: leader` or `Mode: follower`, exactly one
//! leads, and each accepts a session. Dropping the ensemble kills every member.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{
    corral_bin, four_letter, free_port, handshake, workspace_root, ServerKind, START_TIMEOUT,
};

/// One member.
pub struct Member {
    /// Its `myid`.
    pub id: u64,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    quorum_port: u16,
    election_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// `leader`, `follower`, or None when it does not serve (or is down).
    pub fn mode(&self) -> Option<String> {
        self.child.as_ref()?;
        let text = four_letter(self.port, "srvr", Duration::from_secs(2)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_owned())
    }

    /// Whether its process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// `127.0.0.1:PORT`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!(
            "--- member {} log (tail) ---\n{}",
            self.id,
            lines[from..].join("\n")
        )
    }
}

/// An ensemble under test. See the module docs.
pub struct TestEnsemble {
    kind: ServerKind,
    _dir: tempfile::TempDir,
    /// The members, `members[i].id == i + 1`.
    pub members: Vec<Member>,
}

impl TestEnsemble {
    /// Start `size` members of the kind chosen by `CORRAL_E2E_SERVER` and wait until the
    /// ensemble is ready.
    ///
    /// # Panics
    /// If it is not ready within [`START_TIMEOUT`]; the message carries the members' logs.
    pub fn start(size: usize) -> TestEnsemble {
        let kind = ServerKind::from_env();
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-ensemble-{kind}-"))
            .tempdir()
            .expect("temp dir");
        let mut members = Vec::new();
        for id in 1..=size as u64 {
            let mdir = dir.path().join(format!("s{id}"));
            fs::create_dir_all(mdir.join("data")).expect("member dir");
            fs::write(mdir.join("data").join("myid"), format!("{id}\n")).expect("myid");
            members.push(Member {
                id,
                port: free_port().expect("port"),
                quorum_port: free_port().expect("port"),
                election_port: free_port().expect("port"),
                dir: mdir,
                child: None,
            });
        }
        let servers: String = members
            .iter()
            .map(|m| {
                format!(
                    "server.{}=127.0.0.1:{}:{}\n",
                    m.id, m.quorum_port, m.election_port
                )
            })
            .collect();
        for m in &members {
            let cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\n{servers}",
                m.dir.join("data").display(),
                m.port
            );
            fs::write(m.dir.join("zoo.cfg"), cfg).expect("zoo.cfg");
        }
        let mut e = TestEnsemble {
            kind,
            _dir: dir,
            members,
        };
        for i in 0..size {
            e.spawn(i)
                .unwrap_or_else(|err| panic!("starting member {}: {err}", i + 1));
        }
        e.wait_ready();
        e
    }

    /// All members' client addresses, comma separated.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(Member::connect_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the member that currently leads, if exactly one does.
    pub fn leader(&self) -> Option<usize> {
        let leaders: Vec<usize> = (0..self.members.len())
            .filter(|i| self.members[*i].mode().as_deref() == Some("leader"))
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    fn command(&self, m: &Member) -> io::Result<Command> {
        let (program, args): (PathBuf, Vec<String>) = match self.kind {
            ServerKind::ZooKeeper => (
                workspace_root().join("scripts").join("zk-server.sh"),
                vec!["run-config".into(), m.dir.display().to_string()],
            ),
            ServerKind::Corral => (
                corral_bin(),
                vec![
                    "server".into(),
                    "--config".into(),
                    m.dir.join("zoo.cfg").display().to_string(),
                ],
            ),
        };
        let setpriv = Path::new("/usr/bin/setpriv");
        let mut cmd = if setpriv.is_file() {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).current_dir(&m.dir);
        Ok(cmd)
    }

    fn spawn(&mut self, i: usize) -> io::Result<()> {
        let m = &self.members[i];
        assert!(m.child.is_none(), "member {} already running", m.id);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.dir.join("server.log"))?;
        let child = self
            .command(m)?
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Start member `i` again (same data) after [`TestEnsemble::kill9`].
    pub fn restart(&mut self, i: usize) {
        self.spawn(i).expect("restart member");
    }

    /// SIGKILL member `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until every running member serves, one leads, and each accepts a session.
    ///
    /// # Panics
    /// After [`START_TIMEOUT`], with the members' modes and logs.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            for m in &mut self.members {
                if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    m.child = None;
                    panic!("member {} exited with {status}\n{}", m.id, m.log_tail());
                }
            }
            let running: Vec<&Member> = self.members.iter().filter(|m| m.running()).collect();
            let modes: Vec<Option<String>> = running.iter().map(|m| m.mode()).collect();
            let serving = modes
                .iter()
                .all(|m| matches!(m.as_deref(), Some("leader") | Some("follower")));
            let leaders = modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count();
            if serving
                && leaders == 1
                && running
                    .iter()
                    .all(|m| handshake(m.port, Duration::from_secs(2)).is_ok())
            {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let logs: Vec<String> = self.members.iter().map(Member::log_tail).collect();
        panic!(
            "ensemble not ready: modes {:?}\n{}",
            self.members.iter().map(Member::mode).collect::<Vec<_>>(),
            logs.join("\n")
        );
    }
}

impl Drop for TestEnsemble {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}
