//! `conformance record|check|list`: record the catalogue against real ZooKeeper, or replay
//! recorded vectors against a server and print PASS/FAIL with field-level diffs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use corral_tests::conformance::{self, catalogue, runner::RunOptions, runner::Target};

const USAGE: &str = "usage:
  conformance record --server HOST:PORT --out DIR [--only NAME]...
  conformance check  --server HOST:PORT --vectors DIR [--target corral|zookeeper] [--only NAME]...
  conformance list";

struct Args {
    server: Option<SocketAddr>,
    dir: Option<PathBuf>,
    target: Target,
    only: Vec<String>,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        server: None,
        dir: None,
        target: Target::Corral,
        only: Vec::new(),
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => {
                let v = val()?;
                let addr = v
                    .to_socket_addrs()
                    .map_err(|e| format!("{v}: {e}"))?
                    .next()
                    .ok_or(format!("{v}: no address"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!("{addr}: only loopback servers are allowed"));
                }
                a.server = Some(addr);
            }
            "--out" | "--vectors" => a.dir = Some(PathBuf::from(val()?)),
            "--target" => {
                a.target = match val()?.as_str() {
                    "corral" => Target::Corral,
                    "zookeeper" => Target::ZooKeeper,
                    other => return Err(format!("unknown target {other}")),
                }
            }
            "--only" => a.only.push(val()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn run() -> Result<bool, String> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().ok_or(USAGE)?;
    let a = parse(args)?;
    match cmd.as_str() {
        "list" => {
            for (i, s) in catalogue::all().iter().enumerate() {
                println!("{i:3} {:40} {}", s.name, s.description);
            }
            Ok(true)
        }
        "record" => {
            let (server, dir) = (a.server.ok_or(USAGE)?, a.dir.ok_or(USAGE)?);
            let opts = RunOptions::new(server, Target::ZooKeeper);
            let (n, problems) = conformance::record(&opts, &dir, &a.only)?;
            println!("recorded {n} scenarios into {}", dir.display());
            for p in &problems {
                println!("housekeeping problem: {p}");
            }
            Ok(problems.is_empty())
        }
        "check" => {
            let (server, dir) = (a.server.ok_or(USAGE)?, a.dir.ok_or(USAGE)?);
            let opts = RunOptions::new(server, a.target);
            let reports = conformance::check(&opts, &dir, &a.only)?;
            Ok(conformance::print_reports(&reports))
        }
        _ => Err(USAGE.into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
