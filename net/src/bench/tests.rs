//! Every workload on a tiny load against an in-process Corral server: all replies verify
//! and the asked op count completes. No timing is asserted.

use tokio::net::TcpListener;

use super::*;
use crate::config::Config;
use crate::server::{start_on, ServerHandle};

async fn start_server(dir: &std::path::Path) -> ServerHandle {
    let config = Config {
        data_dir: dir.to_owned(),
        data_log_dir: dir.to_owned(),
        client_addr: "127.0.0.1:0".parse().unwrap(),
        force_sync: false,
        ..Config::default()
    };
    let listener = TcpListener::bind(config.client_addr).await.unwrap();
    start_on(config, listener).await.expect("server starts")
}

fn tiny(addr: std::net::SocketAddr, workload: Workload, ops: u64) -> BenchArgs {
    let mut a = BenchArgs::new(vec![addr], workload);
    a.sessions = 4;
    a.pipeline = 4;
    a.keys = 8;
    a.ops = Some(ops);
    a.warmup = 0.0;
    a.quiet = true;
    a.prefix = "/bench/tiny".into();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start_server(tmp.path()).await;
    let addr = h.local_addr();
    let workloads = [
        (Workload::Create, 300),
        (Workload::Set, 300),
        (Workload::Get, 300),
        (Workload::Exists, 300),
        (Workload::Mixed, 300),
        (Workload::Multi, 200),
        (Workload::Watch, 300),
        (Workload::EphemeralChurn, 40),
    ];
    for (w, ops) in workloads {
        let mut args = tiny(addr, w, ops);
        // The last one also cleans up, which must leave no run root behind.
        args.cleanup = w == Workload::EphemeralChurn;
        args.validate().unwrap();
        let r = run(&args).await.unwrap();
        assert_eq!(r.errors, 0, "{}: {:?}", w.name(), r.error_samples);
        assert_eq!(r.ops, ops, "{}", w.name());
        assert!(
            r.p50_us > 0.0 && r.max_us >= r.p99_us,
            "{}: {r:?}",
            w.name()
        );
        if args.cleanup {
            let mut c = Conn::open(addr, 30_000).await.unwrap();
            let (err, _) = c
                .call(&Request::Exists {
                    path: r.run_root.clone(),
                    watch: false,
                })
                .await
                .unwrap();
            assert_eq!(err, ErrorCode::NoNode.code(), "cleanup left {}", r.run_root);
        }
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_duration_run_with_warmup_measures_something() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start_server(tmp.path()).await;
    let mut args = tiny(h.local_addr(), Workload::Mixed, 1);
    args.ops = None;
    args.duration = 0.3;
    args.warmup = 0.1;
    args.read_pct = 50;
    args.validate().unwrap();
    let r = run(&args).await.unwrap();
    assert_eq!(r.errors, 0, "{:?}", r.error_samples);
    assert!(r.ops > 0);
    let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(json["workload"], "mixed");
    assert_eq!(json["ops"], r.ops);
    h.stop().await.unwrap();
}

#[test]
fn bad_options_are_refused() {
    let addr = "127.0.0.1:2181".parse().unwrap();
    let mut a = tiny(addr, Workload::Set, 10);
    a.value_size = 8;
    assert!(a.validate().is_err());
    let mut a = tiny(addr, Workload::Multi, 10);
    a.multi_size = a.keys + 1;
    assert!(a.validate().is_err());
    let mut a = tiny(addr, Workload::Set, 10);
    a.prefix = "relative".into();
    assert!(a.validate().is_err());
    assert!(tiny(addr, Workload::Set, 10).validate().is_ok());
}
