//! `corral bench`: a load generator for any ZooKeeper-compatible ensemble that verifies
//! every reply.
//!
//! `options` holds the command line, `workload` what each session sends and what the
//! replies must say, `session` the connections and the pipelined loop, `stats` the latency
//! histogram, `report` the output. [`run`] drives one run: set up the nodes, start every
//! session together, warm up, measure for a duration or an op count, drain, report.
//!
//! Layout of the nodes: `<prefix>/run-<ms>-<pid>/s<i>/{k<j>, c<seq>, e<n>}`; a fresh run
//! root each time, so runs never see each other's nodes.

pub mod options;
pub mod report;
pub mod session;
pub mod stats;
pub mod workload;

#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use corral_core::error::ErrorCode;
use corral_core::jute::JuteReader;
use corral_core::proto::{op, Acl, CreateRequest, Request, Response};
use tokio::sync::{mpsc, watch};

pub use options::{BenchArgs, Workload};
pub use report::Report;
use session::{Conn, Control, SessionResult};
use stats::{Histogram, Live};
use workload::SessionModel;

/// Requests in flight while setting up and cleaning up.
const ADMIN_WINDOW: usize = 256;

/// The `corral bench` command: run, print the report, exit 1 if any reply failed
/// verification, 2 on bad options.
pub fn main(args: BenchArgs) -> ExitCode {
    if let Err(e) = args.validate() {
        eprintln!("corral bench: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("corral bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            if report.errors > 0 {
                eprintln!("corral bench: {} errors", report.errors);
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("corral bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn create_req(path: &str) -> Request {
    Request::Create {
        op: op::CREATE,
        req: CreateRequest {
            path: path.to_owned(),
            data: Some(Vec::new()),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: None,
        },
    }
}

fn err_name(err: i32) -> String {
    match ErrorCode::from_code(err) {
        Some(c) => format!("{c:?} ({err})"),
        None => format!("error {err}"),
    }
}

/// Create the prefix (with its ancestors, existing ones are fine), a fresh run root and
/// the session directories. Returns the run root.
async fn setup(args: &BenchArgs) -> anyhow::Result<String> {
    let mut admin = Conn::open(args.servers[0], args.session_timeout_ms)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open a session to {}: {e}", args.servers[0]))?;
    let mut path = String::new();
    for part in args.prefix.split('/').skip(1) {
        path.push('/');
        path.push_str(part);
        let (err, _) = admin.call(&create_req(&path)).await?;
        if err != 0 && err != ErrorCode::NodeExists.code() {
            anyhow::bail!("creating {path}: {}", err_name(err));
        }
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let run_root = format!("{}/run-{ms}-{}", args.prefix, std::process::id());
    let (err, _) = admin.call(&create_req(&run_root)).await?;
    if err != 0 {
        anyhow::bail!("creating {run_root}: {}", err_name(err));
    }
    let dirs: Vec<Request> = (0..args.sessions)
        .map(|i| create_req(&workload::session_dir(&run_root, i)))
        .collect();
    for (err, _) in admin.pipelined(&dirs, ADMIN_WINDOW).await? {
        if err != 0 {
            anyhow::bail!("creating a session directory: {}", err_name(err));
        }
    }
    admin.call(&Request::CloseSession).await?;
    Ok(run_root)
}

/// Delete `root` and everything below it.
async fn delete_tree(args: &BenchArgs, root: &str) -> anyhow::Result<()> {
    let mut admin = Conn::open(args.servers[0], args.session_timeout_ms).await?;
    let mut levels = vec![vec![root.to_owned()]];
    loop {
        let level = levels.last().map(Vec::as_slice).unwrap_or(&[]);
        let reqs: Vec<Request> = level
            .iter()
            .map(|p| Request::GetChildren {
                path: p.clone(),
                watch: false,
            })
            .collect();
        let mut next = Vec::new();
        for (parent, (err, body)) in level
            .iter()
            .zip(admin.pipelined(&reqs, ADMIN_WINDOW).await?)
        {
            if err != 0 {
                anyhow::bail!("listing {parent}: {}", err_name(err));
            }
            if let Response::Children { children } =
                Response::decode(op::GET_CHILDREN, &mut JuteReader::new(&body))?
            {
                next.extend(children.into_iter().map(|c| format!("{parent}/{c}")));
            }
        }
        if next.is_empty() {
            break;
        }
        levels.push(next);
    }
    for level in levels.iter().rev() {
        let reqs: Vec<Request> = level
            .iter()
            .map(|p| Request::Delete {
                path: p.clone(),
                version: -1,
            })
            .collect();
        for (path, (err, _)) in level
            .iter()
            .zip(admin.pipelined(&reqs, ADMIN_WINDOW).await?)
        {
            if err != 0 {
                anyhow::bail!("deleting {path}: {}", err_name(err));
            }
        }
    }
    admin.call(&Request::CloseSession).await?;
    Ok(())
}

/// What every session task shares.
struct Shared {
    args: BenchArgs,
    run_root: String,
    control: Control,
    live: Live,
}

/// One session's whole life: connect, create its keys, report ready, wait for the start,
/// run the workload.
async fn session_task(
    shared: Arc<Shared>,
    index: usize,
    limit: Option<u64>,
    ready: mpsc::Sender<Result<(), String>>,
    mut start: watch::Receiver<bool>,
) -> SessionResult {
    let Shared {
        args,
        run_root,
        control,
        live,
    } = &*shared;
    let mut res = SessionResult::default();
    let addr = args.servers[index % args.servers.len()];
    let mut model = SessionModel::new(args, run_root, index, args.sessions);
    let conn = if args.workload == Workload::EphemeralChurn {
        None
    } else {
        match prepare(args, addr, &mut model).await {
            Ok(c) => Some(c),
            Err(e) => {
                let msg = format!("session {index} ({addr}): setup: {e}");
                res.error(live, msg.clone());
                let _ = ready.send(Err(msg)).await;
                return res;
            }
        }
    };
    let _ = ready.send(Ok(())).await;
    drop(ready);
    if start.wait_for(|s| *s).await.is_err() || control.stop.load(Ordering::Relaxed) {
        return res;
    }
    let outcome = match conn {
        Some(mut conn) => {
            // On an ensemble, the keys of other sessions were created through other
            // servers: sync so that this one has seen them.
            match conn
                .call(&Request::Sync {
                    path: run_root.to_string(),
                })
                .await
            {
                Ok((0, _)) => match args.send_interval() {
                    None => {
                        session::run_pipelined(
                            conn,
                            &mut model,
                            args.pipeline,
                            limit,
                            control,
                            live,
                            &mut res,
                        )
                        .await
                    }
                    Some(interval) => {
                        let pace = session::Pace {
                            depth: args.pipeline,
                            interval,
                        };
                        session::run_paced(conn, &mut model, pace, limit, control, live, &mut res)
                            .await
                    }
                },
                Ok((err, _)) => Err(std::io::Error::other(format!("sync: {}", err_name(err)))),
                Err(e) => Err(e),
            }
        }
        None => {
            session::run_churn(
                addr,
                args.session_timeout_ms,
                &mut model,
                limit,
                control,
                live,
                &mut res,
            )
            .await
        }
    };
    if let Err(e) = outcome {
        res.error(live, format!("session {index} ({addr}): {e}"));
    }
    res
}

/// Open the session and create its keys.
async fn prepare(
    args: &BenchArgs,
    addr: std::net::SocketAddr,
    model: &mut SessionModel,
) -> anyhow::Result<Conn> {
    let mut conn = Conn::open(addr, args.session_timeout_ms).await?;
    let setup = model.setup_requests();
    let reqs: Vec<Request> = setup.iter().map(|(r, _)| r.clone()).collect();
    let replies = conn.pipelined(&reqs, args.pipeline.max(16)).await?;
    for ((req, expect), (err, body)) in setup.into_iter().zip(replies) {
        model
            .verify(req.op(), expect, err, &body)
            .map_err(|e| anyhow::anyhow!("creating keys in {}: {e}", model.dir()))?;
    }
    Ok(conn)
}

/// Print a progress line on stderr every second until aborted.
async fn progress(workload: &'static str, shared: Arc<Shared>) {
    let (live, control) = (&shared.live, &shared.control);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let (ops, errors, notes) = live.snapshot();
        let phase = if control.recording.load(Ordering::Relaxed) {
            ""
        } else {
            " (warm-up)"
        };
        let notes = if notes > 0 {
            format!(", {notes} notifications")
        } else {
            String::new()
        };
        let _ = writeln!(
            std::io::stderr(),
            "[bench {workload}] {:>4.0}s {:>9} ops/s, {ops} done, {errors} errors{notes}{phase}",
            started.elapsed().as_secs_f64(),
            ops - last,
        );
        last = ops;
    }
}

/// Run the bench described by `args` (already validated) and report what it measured.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let run_root = setup(args).await?;
    let shared = Arc::new(Shared {
        args: args.clone(),
        run_root: run_root.clone(),
        control: Control::default(),
        live: Live::default(),
    });
    let control = &shared.control;
    let (ready_tx, mut ready_rx) = mpsc::channel(args.sessions);
    let (start_tx, start_rx) = watch::channel(false);
    let mut handles = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let limit = args.ops.map(|ops| {
            let n = args.sessions as u64;
            ops / n + u64::from((i as u64) < ops % n)
        });
        handles.push(tokio::spawn(session_task(
            shared.clone(),
            i,
            limit,
            ready_tx.clone(),
            start_rx.clone(),
        )));
    }
    drop(ready_tx);
    let mut setup_error = None;
    while let Some(r) = ready_rx.recv().await {
        if let Err(e) = r {
            setup_error.get_or_insert(e);
        }
    }
    if setup_error.is_some() {
        control.stop.store(true, Ordering::Relaxed);
    }
    let _ = start_tx.send(true);
    let ticker =
        (!args.quiet).then(|| tokio::spawn(progress(args.workload.name(), shared.clone())));
    if setup_error.is_none() {
        tokio::time::sleep(args.warmup()).await;
    }
    control.recording.store(true, Ordering::Relaxed);
    let measuring = Instant::now();
    if args.ops.is_none() {
        // Stop early if every session has already ended (e.g. the server went away).
        let all_done = async {
            while !handles.iter().all(|h| h.is_finished()) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(args.duration()) => {}
            _ = all_done => {}
        }
        control.stop.store(true, Ordering::Relaxed);
    }
    let mut hist = Histogram::default();
    let mut report = Report {
        workload: args.workload.name().into(),
        servers: args.servers.iter().map(|s| s.to_string()).collect(),
        sessions: args.sessions,
        pipeline: args.pipeline,
        value_size: args.value_size,
        keys: args.keys,
        ops: 0,
        errors: 0,
        elapsed_s: 0.0,
        ops_per_s: 0.0,
        mean_us: 0.0,
        p50_us: 0.0,
        p99_us: 0.0,
        p999_us: 0.0,
        max_us: 0.0,
        notifications: 0,
        error_samples: Vec::new(),
        run_root: run_root.clone(),
    };
    let mut last_done = measuring;
    for h in handles {
        let r = h.await?;
        hist.merge(&r.hist);
        report.ops += r.ops;
        report.errors += r.errors;
        report.notifications += r.notifications;
        if report.error_samples.len() < 10 {
            report.error_samples.extend(r.samples);
        }
        if let Some(t) = r.last_done {
            last_done = last_done.max(t);
        }
    }
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(e) = setup_error {
        anyhow::bail!("{e}");
    }
    if let Some(want) = args.ops {
        if report.ops != want && report.errors == 0 {
            // Cannot happen without a failed session, which counts as an error; keep the
            // check so a short count is never silent.
            report.errors += 1;
            report
                .error_samples
                .push(format!("{} ops completed, {want} asked", report.ops));
        }
    }
    report.elapsed_s = (last_done - measuring).as_secs_f64();
    report.set_latency(&hist);
    if args.cleanup {
        if let Err(e) = delete_tree(args, &run_root).await {
            report.errors += 1;
            report.error_samples.push(format!("cleanup: {e}"));
        }
    }
    Ok(report)
}
