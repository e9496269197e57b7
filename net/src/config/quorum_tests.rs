//! The quorum keys of zoo.cfg: every accepted form and every refusal.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;

use corral_core::types::ServerId;

use super::*;

const THREE: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/zk/data\n\
                     clientPortAddress=127.0.0.1\nclientPort=2182\n\
                     server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
                     server.3=127.0.0.1:2890:3890\n";

/// Parse with `myid` as the content of dataDir/myid (None: the file is missing); returns
/// the result and the paths that were read.
fn parse_myid(text: &str, myid: Option<&str>) -> (Result<Parsed, ConfigError>, Vec<PathBuf>) {
    let read = RefCell::new(Vec::new());
    let r = Config::parse_with(text, &|path: &Path| {
        read.borrow_mut().push(path.to_owned());
        myid.map(str::to_owned)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    });
    (r, read.into_inner())
}

fn ensemble_ok(text: &str, myid: &str) -> (Config, Vec<String>) {
    match parse_myid(text, Some(myid)).0 {
        Ok(p) => (p.config, p.warnings),
        Err(e) => panic!("config rejected: {e}\n{text}"),
    }
}

fn peer(host: &str, quorum_port: u16, election_port: u16) -> PeerAddr {
    PeerAddr {
        host: host.to_owned(),
        quorum_port,
        election_port,
        client_host: None,
        client_port: None,
    }
}

#[test]
fn three_servers_make_an_ensemble() {
    let (r, read) = parse_myid(THREE, Some("2\n"));
    let p = r.unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(read, vec![PathBuf::from("/zk/data/myid")]);
    let c = p.config;
    let e = c.ensemble.clone().expect("ensemble mode");
    assert_eq!(e.my_id, ServerId(2));
    assert_eq!(e.init_limit, 10);
    assert_eq!(e.sync_limit, 5);
    assert!(!e.quorum_listen_on_all_ips);
    let want: BTreeMap<ServerId, PeerAddr> = [
        (ServerId(1), peer("127.0.0.1", 2888, 3888)),
        (ServerId(2), peer("127.0.0.1", 2889, 3889)),
        (ServerId(3), peer("127.0.0.1", 2890, 3890)),
    ]
    .into();
    assert_eq!(e.peers, want);
    assert_eq!(e.me(), Some(&peer("127.0.0.1", 2889, 3889)));
    assert_eq!(
        e.peer_listen_addr().unwrap(),
        "127.0.0.1:2889".parse().unwrap()
    );
    // The server id reaches the core (session ids carry it).
    assert_eq!(c.server.server_id, 2);
    assert_eq!(c.client_addr, "127.0.0.1:2182".parse().unwrap());

    let r = c.replica_config().expect("replica config in ensemble mode");
    assert_eq!(r.my_id, ServerId(2));
    assert_eq!(
        r.voters.iter().copied().collect::<Vec<_>>(),
        vec![ServerId(1), ServerId(2), ServerId(3)]
    );
    assert_eq!(r.tick_ms, 2000);
    assert_eq!(r.init_limit, 10);
    assert_eq!(r.sync_limit, 5);
    assert!(Config::default().replica_config().is_none());
}

#[test]
fn server_line_forms() {
    let text = "initLimit=5\nsyncLimit=2\ndataDir=/d\n\
                server.1=zk1.example:2888:3888\n\
                server.2=zk2.example:2888:3888:participant\n\
                server.3=zk3.example:2888:3888:PARTICIPANT;2181\n\
                server.4=[::1]:2888:3888;[::1]:2184\n\
                server.5=10.0.0.5:2888:3888:participant;0.0.0.0:2185\n";
    let (c, warnings) = ensemble_ok(text, "1");
    // Five servers: odd, no warning about the count.
    assert!(warnings.is_empty(), "{warnings:?}");
    let e = c.ensemble.unwrap();
    assert_eq!(e.peers[&ServerId(1)], peer("zk1.example", 2888, 3888));
    assert_eq!(e.peers[&ServerId(2)], peer("zk2.example", 2888, 3888));
    let s3 = &e.peers[&ServerId(3)];
    assert_eq!(
        (s3.client_host.as_deref(), s3.client_port),
        (None, Some(2181))
    );
    let s4 = &e.peers[&ServerId(4)];
    assert_eq!(s4.host, "::1");
    assert_eq!(
        (s4.client_host.as_deref(), s4.client_port),
        (Some("::1"), Some(2184))
    );
    let s5 = &e.peers[&ServerId(5)];
    assert_eq!(
        (s5.client_host.as_deref(), s5.client_port),
        (Some("0.0.0.0"), Some(2185))
    );
}

#[test]
fn own_client_address_comes_from_the_server_line() {
    let base = "initLimit=5\nsyncLimit=2\ndataDir=/d\nserver.2=127.0.0.1:2889:3889\n";
    let line1 = "server.1=127.0.0.1:2888:3888;127.0.0.1:2191\n";
    // No clientPort: the line gives it.
    let (c, _) = ensemble_ok(&format!("{base}{line1}"), "1");
    assert_eq!(c.client_addr, "127.0.0.1:2191".parse().unwrap());
    // The same address in both places is fine.
    let (c, _) = ensemble_ok(
        &format!("{base}{line1}clientPort=2191\nclientPortAddress=127.0.0.1\n"),
        "1",
    );
    assert_eq!(c.client_addr, "127.0.0.1:2191".parse().unwrap());
    // A wildcard clientPortAddress only has to match the port.
    let (c, _) = ensemble_ok(&format!("{base}{line1}clientPort=2191\n"), "1");
    assert_eq!(c.client_addr, "127.0.0.1:2191".parse().unwrap());
    // A port without host on the line: all interfaces.
    let (c, _) = ensemble_ok(&format!("{base}server.1=127.0.0.1:2888:3888;2191\n"), "1");
    assert_eq!(c.client_addr, "0.0.0.0:2191".parse().unwrap());
    for conflicting in [
        "clientPort=2192\n",
        "clientPort=2191\nclientPortAddress=127.0.0.2\n",
    ] {
        match parse_myid(&format!("{base}{line1}{conflicting}"), Some("1")).0 {
            Err(e @ ConfigError::Ensemble(_)) => {
                let msg = e.to_string();
                assert!(msg.contains("127.0.0.1:2191"), "{msg}");
                assert!(msg.contains("server.1"), "{msg}");
            }
            other => panic!("{conflicting:?}: expected a client address conflict, got {other:?}"),
        }
    }
    // Another server's client part does not concern this one.
    let (c, _) = ensemble_ok(&format!("{base}{line1}clientPort=2199\n"), "2");
    assert_eq!(c.client_addr, "0.0.0.0:2199".parse().unwrap());
}

#[test]
fn one_server_line_is_standalone_unless_disabled() {
    let one = "initLimit=5\nsyncLimit=2\ndataDir=/d\nserver.1=127.0.0.1:2888:3888\n";
    let (r, read) = parse_myid(one, None);
    let p = r.expect("a single server line runs standalone");
    assert!(p.config.ensemble.is_none());
    assert_eq!(p.config.server.server_id, 1, "ServerConfig default");
    assert!(read.is_empty(), "standalone does not need myid");
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("standalone"), "{}", p.warnings[0]);
    assert!(p.warnings[0].contains("line 4"), "{}", p.warnings[0]);

    let (c, warnings) = ensemble_ok(&format!("{one}standaloneEnabled=false\n"), "1");
    let e = c.ensemble.expect("a one-member ensemble");
    assert_eq!(e.peers.len(), 1);
    assert_eq!(e.my_id, ServerId(1));
    assert!(warnings.is_empty(), "{warnings:?}");

    match parse_myid("standaloneEnabled=false\n", Some("1")).0 {
        Err(e @ ConfigError::Ensemble(_)) => {
            assert!(e.to_string().contains("standaloneEnabled"), "{e}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // No server lines: the quorum keys are accepted and unused, without warnings.
    let p = parse_myid(
        "initLimit=10\nsyncLimit=5\nelectionAlg=3\npeerType=participant\n\
         quorumListenOnAllIPs=true\nstandaloneEnabled=true\n",
        None,
    )
    .0
    .unwrap();
    assert!(p.config.ensemble.is_none());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn even_sizes_and_repeated_lines_warn() {
    let two = "initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n";
    let (_, w) = ensemble_ok(two, "1");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("two servers"), "{}", w[0]);

    let four = format!("{two}server.3=c:1:2\nserver.4=d:1:2\n");
    let (_, w) = ensemble_ok(&four, "1");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("odd"), "{}", w[0]);

    let repeated = "initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n\
                    server.3=c:1:2\nserver.2=e:7:8\n";
    let (c, w) = ensemble_ok(repeated, "1");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("line 6") && w[0].contains("line 4"),
        "{}",
        w[0]
    );
    assert_eq!(c.ensemble.unwrap().peers[&ServerId(2)], peer("e", 7, 8));
}

#[test]
fn quorum_listen_on_all_ips() {
    let (c, _) = ensemble_ok(&format!("{THREE}quorumListenOnAllIPs=true\n"), "3");
    let e = c.ensemble.unwrap();
    assert!(e.quorum_listen_on_all_ips);
    assert_eq!(
        e.peer_listen_addr().unwrap(),
        "0.0.0.0:2890".parse().unwrap()
    );

    let v6 = "initLimit=5\nsyncLimit=2\nquorumListenOnAllIPs=yes\n\
              server.1=[::1]:2888:3888\nserver.2=[::1]:2889:3889\nserver.3=[::1]:2890:3890\n";
    let (c, _) = ensemble_ok(v6, "1");
    assert_eq!(
        c.ensemble.unwrap().peer_listen_addr().unwrap(),
        "[::]:2888".parse().unwrap()
    );
}

/// Every malformed quorum value is a `BadValue` naming line, key and value.
#[test]
fn malformed_quorum_values_name_key_value_and_line() {
    let cases: &[(&str, &str)] = &[
        ("server.x", "127.0.0.1:2888:3888"),
        ("server.0", "127.0.0.1:2888:3888"),
        ("server.256", "127.0.0.1:2888:3888"),
        ("server.-1", "127.0.0.1:2888:3888"),
        ("server.1", "127.0.0.1:2888"),
        ("server.1", "127.0.0.1"),
        ("server.1", "127.0.0.1:2888:3888:participant:extra"),
        ("server.1", "127.0.0.1:2888:3888:voter"),
        ("server.1", "127.0.0.1:2888:2888"),
        ("server.1", "127.0.0.1:70000:3888"),
        ("server.1", "127.0.0.1:0:3888"),
        ("server.1", "127.0.0.1:2888:x"),
        ("server.1", ":2888:3888"),
        ("server.1", "[::1:2888:3888"),
        ("server.1", "[::1]2888:3888"),
        ("server.1", "127.0.0.1:2888:3888;"),
        ("server.1", "127.0.0.1:2888:3888;port"),
        ("server.1", "127.0.0.1:2888:3888;a:b:2181"),
        ("server.1", "127.0.0.1:2888:3888;2181;2182"),
        ("server.1", "127.0.0.1:2888:3888|127.0.0.2:2888:3888"),
        ("initLimit", "0"),
        ("initLimit", "ten"),
        ("syncLimit", "-1"),
        ("electionAlg", "0"),
        ("electionAlg", "1"),
        ("electionAlg", "fast"),
        ("peerType", "voter"),
        ("standaloneEnabled", "maybe"),
        ("quorumListenOnAllIPs", "2"),
        ("dynamicConfigFile", "/etc/zk/zoo.cfg.dynamic"),
        ("group.1", "1:2:3"),
        ("weight.1", "1"),
    ];
    for (key, value) in cases {
        let text = format!("tickTime=2000\n{key}={value}\n");
        match parse_myid(&text, Some("1")).0 {
            Err(e @ ConfigError::BadValue { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("line 2"), "{msg}");
                assert!(msg.contains(key), "{msg}");
                assert!(msg.contains(&format!("{value:?}")), "{msg}");
            }
            other => panic!("{key}={value}: expected BadValue, got {other:?}"),
        }
    }
}

#[test]
fn observers_are_refused() {
    for text in [
        "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\n",
        "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:Observer;2181\n",
        "peerType=observer\nserver.1=a:1:2\n",
    ] {
        match parse_myid(text, Some("1")).0 {
            Err(e @ ConfigError::ObserverNotSupported { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("observers are not supported"), "{msg}");
                assert!(msg.contains("line "), "{msg}");
            }
            other => panic!("{text:?}: expected ObserverNotSupported, got {other:?}"),
        }
    }
}

#[test]
fn myid_rules() {
    // Whitespace around the id is ignored.
    let (c, _) = ensemble_ok(THREE, "  3 \r\n");
    assert_eq!(c.ensemble.unwrap().my_id, ServerId(3));

    let (r, _) = parse_myid(THREE, None);
    match r {
        Err(e @ ConfigError::MyId { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("/zk/data/myid"), "{msg}");
            assert!(msg.contains("No such file"), "{msg}");
        }
        other => panic!("missing myid: expected MyId, got {other:?}"),
    }
    for content in ["", "two", "1 2", "0", "256", "-3", "0x2"] {
        match parse_myid(THREE, Some(content)).0 {
            Err(e @ ConfigError::MyId { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("/zk/data/myid"), "{msg}");
                assert!(msg.contains(&format!("{:?}", content.trim())), "{msg}");
            }
            other => panic!("myid {content:?}: expected MyId, got {other:?}"),
        }
    }
    match parse_myid(THREE, Some("4")).0 {
        Err(e @ ConfigError::MyIdNotListed { id: 4, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("/zk/data/myid"), "{msg}");
            assert!(msg.contains("1, 2, 3"), "{msg}");
        }
        other => panic!("expected MyIdNotListed, got {other:?}"),
    }
    // TTL nodes reserve id 255.
    let big = "initLimit=5\nsyncLimit=2\nextendedTypesEnabled=true\n\
               server.254=a:1:2\nserver.255=b:1:2\nserver.3=c:1:2\n";
    let (c, _) = ensemble_ok(big, "254");
    assert_eq!(c.ensemble.unwrap().my_id, ServerId(254));
    match parse_myid(big, Some("255")).0 {
        Err(e @ ConfigError::MyId { .. }) => {
            assert!(e.to_string().contains("extendedTypesEnabled"), "{e}")
        }
        other => panic!("expected MyId, got {other:?}"),
    }
}

#[test]
fn ensemble_needs_limits_and_distinct_addresses() {
    for (text, want) in [
        (
            "syncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n",
            "initLimit",
        ),
        (
            "initLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n",
            "syncLimit",
        ),
        (
            "initLimit=2\nsyncLimit=2\nserver.1=a:1:2\nserver.2=a:3:1\nserver.3=c:1:2\n",
            "server.1 (line 3) and server.2 (line 4) both use a port 1",
        ),
    ] {
        match parse_myid(text, Some("1")).0 {
            Err(e @ ConfigError::Ensemble(_)) => {
                assert!(e.to_string().contains(want), "{e}")
            }
            other => panic!("{text:?}: expected Ensemble, got {other:?}"),
        }
    }
}

#[test]
fn load_reads_myid_from_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = tmp.path().join("zoo.cfg");
    let text = format!(
        "initLimit=5\nsyncLimit=2\ndataDir={}\nserver.1=127.0.0.1:2888:3888\n\
         server.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n",
        data.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let err = Config::load(&cfg).unwrap_err();
    assert!(matches!(err, ConfigError::MyId { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&data.join("myid").display().to_string()),
        "{err}"
    );
    std::fs::write(myid_path(&data), "3\n").unwrap();
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.ensemble.unwrap().my_id, ServerId(3));
}
