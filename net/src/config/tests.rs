use super::*;

fn parse_ok(text: &str) -> Parsed {
    match Config::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("config rejected: {e}"),
    }
}

#[test]
fn no_config_defaults() {
    let c = Config::default();
    assert_eq!(c.client_addr, "127.0.0.1:2181".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./corral-data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.server.tick_time_ms, 2000);
    assert_eq!(c.server.min_session_timeout_ms, 4000);
    assert_eq!(c.server.max_session_timeout_ms, 40000);
    assert!(c.whitelist.allows("srvr"));
    assert!(!c.whitelist.allows("ruok"));
    assert!(c.force_sync);
}

#[test]
fn sample_zoo_cfg() {
    let p = parse_ok(
        "# The number of milliseconds of each tick\ntickTime=2000\ndataDir=/var/lib/zk\n\
         clientPort=2182\nclientPortAddress=127.0.0.2\nmaxClientCnxns=0\n\
         autopurge.snapRetainCount=5\nautopurge.purgeInterval=1\n\
         4lw.commands.whitelist=ruok, stat ,mntr\njute.maxbuffer=0x9fffff\n\
         zookeeper.extendedTypesEnabled=true\nskipACL=yes\nforceSync=yes\n\
         znode.container.checkIntervalMs=1000\nznode.container.maxPerMinute=50\n\
         znode.container.maxNeverUsedIntervalMs=5000\nglobalOutstandingLimit=10\n\
         zookeeper.DigestAuthenticationProvider.superDigest=super:abc=\n\
         snapCount=1\npreAllocSize=1024\nadmin.enableServer=false\n",
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let c = p.config;
    assert_eq!(c.client_addr, "127.0.0.2:2182".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.data_log_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.server.min_session_timeout_ms, 4000);
    assert_eq!(c.server.max_session_timeout_ms, 40000);
    assert_eq!(c.server.max_client_cnxns, 0);
    assert_eq!(c.snap_retain_count, 5);
    assert_eq!(c.purge_interval_hours, 1);
    for cmd in ["ruok", "stat", "mntr", "srvr"] {
        assert!(c.whitelist.allows(cmd), "{cmd}");
    }
    assert!(!c.whitelist.allows("conf"));
    assert_eq!(c.server.max_buffer, 0x9fffff);
    assert!(c.server.extended_types_enabled);
    assert!(c.server.skip_acl);
    assert_eq!(c.server.container_check_interval_ms, 1000);
    assert_eq!(c.server.container_max_per_minute, 50);
    assert_eq!(c.server.container_max_never_used_ms, 5000);
    assert_eq!(c.server.global_outstanding_limit, 10);
    assert_eq!(c.server.super_digest.as_deref(), Some("super:abc="));
    assert_eq!(c.server.snap_count, 2, "snapCount is clamped to 2");
    assert_eq!(c.pre_alloc_size_kb, 1024);
}

#[test]
fn zoo_cfg_defaults_follow_zookeeper() {
    let c = parse_ok("dataLogDir=/fast/log\n").config;
    assert_eq!(c.server.tick_time_ms, 3000);
    assert_eq!(c.server.min_session_timeout_ms, 6000);
    assert_eq!(c.server.max_session_timeout_ms, 60000);
    assert_eq!(c.client_addr, "0.0.0.0:2181".parse().unwrap());
    assert_eq!(c.data_log_dir, PathBuf::from("/fast/log"));
    assert_eq!(c.server.max_buffer, corral_core::jute::DEFAULT_MAX_BUFFER);
}

#[test]
fn session_timeouts() {
    let c = parse_ok("tickTime=100\nminSessionTimeout=-1\nmaxSessionTimeout=900\n").config;
    assert_eq!(c.server.min_session_timeout_ms, 200);
    assert_eq!(c.server.max_session_timeout_ms, 900);
    match Config::parse("tickTime=1000\nminSessionTimeout=30000\n") {
        Err(ConfigError::SessionTimeouts {
            min: 30000,
            max: 20000,
        }) => {}
        other => panic!("expected SessionTimeouts, got {other:?}"),
    }
}

#[test]
fn whitelist_star_and_blank_items() {
    let w = Whitelist::parse(" , *");
    for cmd in COMMANDS {
        assert!(w.allows(cmd), "{cmd}");
    }
    let w = Whitelist::parse("");
    assert!(w.allows("srvr"));
    assert!(!w.allows("stat"));
}

#[test]
fn unknown_keys_warn_with_name_and_line() {
    let p = parse_ok("tickTime=2000\nfoo.bar=1\n");
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("foo.bar"), "{}", p.warnings[0]);
    assert!(p.warnings[0].contains("line 2"), "{}", p.warnings[0]);
}

#[test]
fn malformed_values_name_key_value_and_line() {
    let cases = [
        ("tickTime=2000\ntickTime=fast\n", 2, "tickTime", "fast"),
        ("clientPort=70000\n", 1, "clientPort", "70000"),
        ("clientPort=0\n", 1, "clientPort", "0"),
        ("\n\nmaxClientCnxns=-3\n", 3, "maxClientCnxns", "-3"),
        ("skipACL=maybe\n", 1, "skipACL", "maybe"),
        ("jute.maxbuffer=0xzz\n", 1, "jute.maxbuffer", "0xzz"),
        ("jute.maxbuffer=0\n", 1, "jute.maxbuffer", "0"),
        ("initLimit=ten\n", 1, "initLimit", "ten"),
        (
            "zookeeper.DigestAuthenticationProvider.superDigest=nocolon\n",
            1,
            "",
            "nocolon",
        ),
    ];
    for (text, want_line, want_key, want_value) in cases {
        match Config::parse(text) {
            Err(e @ ConfigError::BadValue { .. }) => {
                let ConfigError::BadValue {
                    line,
                    ref key,
                    ref value,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(line, want_line, "{text}");
                assert!(key.ends_with(want_key), "{text}: {key}");
                assert_eq!(value, want_value, "{text}");
                let msg = e.to_string();
                assert!(msg.contains(&format!("line {want_line}")), "{msg}");
                assert!(msg.contains(want_value), "{msg}");
            }
            other => panic!("{text:?}: expected BadValue, got {other:?}"),
        }
    }
}

#[test]
fn load_reports_missing_file() {
    let err = Config::load(Path::new("/nonexistent/zoo.cfg")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/zoo.cfg"), "{err}");
}
