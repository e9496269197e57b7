use super::*;
use corral_core::types::{ConnId, SessionId, Zxid};

fn snapshot() -> StatsSnapshot {
    StatsSnapshot {
        connections: vec![ConnStats {
            conn: Some(ConnId(1)),
            remote: "127.0.0.1:47264".into(),
            session: SessionId(0x0100_0005_747f_0000),
            timeout_ms: 4000,
            queued: 0,
            received: 2,
            sent: 2,
            established_ms: 1_700_000_000_000,
            last_op: "GETD".into(),
            last_cxid: 5,
            last_zxid: Zxid(0x80),
            last_response_ms: 1_700_000_000_100,
            last_latency_ms: 1,
            min_latency_ms: 0,
            avg_latency_ms: 0.5,
            max_latency_ms: 3,
        }],
        last_zxid: Zxid(0x80),
        node_count: 35,
        min_latency_ms: 0,
        avg_latency_ms: 1.537_14,
        max_latency_ms: 38,
        packets_received: 10,
        packets_sent: 9,
        ephemerals_by_session: vec![(SessionId(0x10), vec!["/e1".into(), "/e2".into()])],
        sessions: vec![(SessionId(0x10), 4000), (SessionId(0x11), 4000)],
        watching_connections: 1,
        watched_paths: 2,
        total_watches: 3,
        watches_by_path: vec![
            ("/a".into(), vec![SessionId(0x10), SessionId(0x11)]),
            ("/b".into(), vec![SessionId(0x10)]),
        ],
        ..StatsSnapshot::default()
    }
}

fn ctx<'a>(config: &'a Config, stats: &'a StatsSnapshot, serving: bool) -> Context<'a> {
    Context {
        config,
        stats,
        serving,
        now_ms: 1_700_000_000_000,
        uptime_ms: 1234,
        own_remote: "127.0.0.1:50000".parse().unwrap(),
        data_dir_size: 100,
        log_dir_size: 200,
        trace_mask: DEFAULT_TRACE_MASK,
    }
}

#[test]
fn classify_first_bytes() {
    assert_eq!(classify(*b"ruok"), Opening::Command("ruok"));
    assert_eq!(classify(*b"hash"), Opening::Command("hash"));
    assert_eq!(classify(TELNET_CLOSE), Opening::TelnetClose);
    assert_eq!(classify([0, 0, 0, 45]), Opening::Frame);
    assert_eq!(classify(*b"RUOK"), Opening::Frame);
    assert_eq!(
        refusal("stat"),
        "stat is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn srvr_matches_zookeeper_layout() {
    let config = Config::default();
    let st = snapshot();
    let got = render("srvr", &ctx(&config, &st, true));
    let want = format!(
        "Zookeeper version: {}\nLatency min/avg/max: 0/1.5371/38\nReceived: 10\nSent: 9\n\
         Connections: 2\nOutstanding: 0\nZxid: 0x80\nMode: standalone\nNode count: 35\n",
        full_version()
    );
    assert_eq!(got, want);
    assert!(
        full_version().starts_with("3.8.0-corral-"),
        "{}",
        full_version()
    );
    assert!(full_version().contains(", built on "));
}

#[test]
fn stat_lists_clients_then_a_blank_line() {
    let config = Config::default();
    let st = snapshot();
    let got = render("stat", &ctx(&config, &st, true));
    let clients = "Clients:\n /127.0.0.1:47264[1](queued=0,recved=2,sent=2)\n \
                   /127.0.0.1:50000[0](queued=0,recved=1,sent=0)\n\nLatency min/avg/max:";
    assert!(got.contains(clients), "{got}");
}

#[test]
fn cons_full_connection_info() {
    let config = Config::default();
    let st = snapshot();
    let got = render("cons", &ctx(&config, &st, true));
    let want = " /127.0.0.1:47264[1](queued=0,recved=2,sent=2,sid=0x1000005747f0000,lop=GETD,\
                est=1700000000000,to=4000,lcxid=0x5,lzxid=0x80,lresp=1700000000100,llat=1,\
                minlat=0,avglat=0.5,maxlat=3)\n /127.0.0.1:50000[0](queued=0,recved=1,sent=0)\n\n";
    assert_eq!(got, want);
}

#[test]
fn not_serving_text_except_for_liveness_commands() {
    let config = Config::default();
    let st = StatsSnapshot::default();
    let c = ctx(&config, &st, false);
    for cmd in [
        "srvr", "stat", "cons", "conf", "mntr", "wchs", "dump", "dirs", "crst",
    ] {
        assert_eq!(render(cmd, &c), NOT_SERVING, "{cmd}");
    }
    assert_eq!(render("ruok", &c), "imok");
    assert_eq!(render("isro", &c), "null");
    assert!(render("envi", &c).starts_with("Environment:\n"));
    assert_eq!(render("isro", &ctx(&config, &st, true)), "rw");
}

#[test]
fn watch_dumps() {
    let config = Config::default();
    let st = snapshot();
    let c = ctx(&config, &st, true);
    assert_eq!(
        render("wchs", &c),
        "1 connections watching 2 paths\nTotal watches:3\n"
    );
    assert_eq!(render("wchp", &c), "/a\n\t0x10\n\t0x11\n/b\n\t0x10\n\n");
    assert_eq!(render("wchc", &c), "0x10\n\t/a\n\t/b\n0x11\n\t/a\n\n");
}

#[test]
fn conf_envi_dirs_mntr_dump() {
    let config = Config::default();
    let st = snapshot();
    let c = ctx(&config, &st, true);
    let conf = render("conf", &c);
    assert!(
        conf.starts_with("clientPort=2181\nsecureClientPort=-1\ndataDir=/"),
        "{conf}"
    );
    assert!(
        conf.contains("corral-data/version-2\ndataDirSize=100\n"),
        "{conf}"
    );
    assert!(conf.ends_with("maxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"));
    let envi = render("envi", &c);
    assert!(
        envi.contains(&format!("\nzookeeper.version={}\n", full_version())),
        "{envi}"
    );
    assert!(
        envi.contains(&format!("\ncorral.version={CORRAL_VERSION}\n")),
        "{envi}"
    );
    assert!(envi.contains("\nos.name="), "{envi}");
    assert_eq!(render("dirs", &c), "datadir_size: 100\nlogdir_size: 200\n");
    let mntr = render("mntr", &c);
    assert!(mntr.starts_with(&format!(
        "zk_version\t{}\nzk_server_state\tstandalone\n",
        full_version()
    )));
    assert!(mntr.contains("zk_znode_count\t35\n") && mntr.contains("zk_avg_latency\t1.5371\n"));
    assert!(mntr.contains("zk_num_alive_connections\t2\n"), "{mntr}");
    let dump = render("dump", &c);
    assert!(
        dump.starts_with("SessionTracker dump:\nSession Sets (1)/(2):\n2 expire at "),
        "{dump}"
    );
    assert!(dump
        .contains("ephemeral nodes dump:\nSessions with Ephemerals (1):\n0x10:\n\t/e1\n\t/e2\n"));
    assert!(
        dump.contains("Connections dump:\nConnections Sets (1)/(2):\n"),
        "{dump}"
    );
    assert_eq!(render("gtmk", &c), "306");
}

#[test]
fn java_number_and_address_formats() {
    assert_eq!(java_double(0.0), "0.0");
    assert_eq!(java_double(2.0), "2.0");
    assert_eq!(java_double(1.5371), "1.5371");
    assert_eq!(
        java_addr("[::1]:2181".parse().unwrap()),
        "/[0:0:0:0:0:0:0:1]:2181"
    );
    assert_eq!(java_addr("10.0.0.1:7".parse().unwrap()), "/10.0.0.1:7");
}
