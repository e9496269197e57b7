//! End-to-end tests with the `zookeeper-client` crate (kezhuw's Rust client) against the
//! server chosen by `CORRAL_E2E_SERVER` (see `corral_tests::TestServer`). Each test gets
//! its own server process; every client call is bounded by [`within`].

use std::future::Future;
use std::time::Duration;

use corral_tests::{ServerKind, TestServer};
use zk::{
    Acl, Acls, AddWatchMode, AuthId, AuthUser, Client, CreateMode, CreateOptions, Error, EventType,
    MultiReadResult, MultiWriteError, MultiWriteResult, Permission, SessionState, Stat,
    WatchedEvent,
};
use zookeeper_client as zk;

/// Bound for any single client call or event wait.
const STEP: Duration = Duration::from_secs(15);
/// Bound for work the server does in the background (container and TTL reaping, session
/// expiry): many passes of its 1 s reaper.
const BACKGROUND: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it takes longer than [`STEP`].
async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(STEP, fut)
        .await
        .expect("client step timed out")
}

async fn connect(server: &TestServer) -> Client {
    within(
        Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(&server.connect_string()),
    )
    .await
    .expect("connect")
}

fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

fn ephemeral() -> CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

/// Polls `check` every 100 ms until it returns true, for at most `bound`.
async fn eventually<F, Fut>(bound: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn node_event(event: &WatchedEvent) -> (EventType, &str) {
    (event.event_type, event.path.as_str())
}

#[tokio::test]
async fn create_get_set_delete_with_stats() {
    let server = TestServer::start();
    let client = connect(&server).await;

    let (stat, seq) = within(client.create("/test", b"Hello, ZooKeeper!", &persistent()))
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), -1, "not sequential");
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.data_length, 17);
    assert_eq!(stat.ephemeral_owner, 0);

    let (data, got) = within(client.get_data("/test")).await.unwrap();
    assert_eq!(data, b"Hello, ZooKeeper!");
    assert_eq!(got, stat);

    let set = within(client.set_data("/test", b"Hello, ZooKeeper 2.0!", None))
        .await
        .unwrap();
    assert_eq!(set.version, 1);
    assert!(set.mzxid > stat.mzxid);
    assert_eq!(
        within(client.get_data("/test")).await.unwrap().0,
        b"Hello, ZooKeeper 2.0!"
    );
    assert_eq!(
        within(client.set_data("/test", b"v2", Some(1)))
            .await
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        within(client.set_data("/test", b"x", Some(1))).await,
        Err(Error::BadVersion)
    );

    within(client.create("/test/b", b"", &persistent()))
        .await
        .unwrap();
    within(client.create("/test/a", b"", &persistent()))
        .await
        .unwrap();
    let mut children = within(client.list_children("/test")).await.unwrap();
    children.sort();
    assert_eq!(children, ["a", "b"]);
    let (_, parent) = within(client.get_children("/test")).await.unwrap();
    assert_eq!((parent.num_children, parent.cversion), (2, 2));

    assert_eq!(
        within(client.delete("/test", None)).await,
        Err(Error::NotEmpty)
    );
    assert_eq!(
        within(client.delete("/test/a", Some(5))).await,
        Err(Error::BadVersion)
    );
    within(client.delete("/test/a", Some(0))).await.unwrap();
    within(client.delete("/test/b", None)).await.unwrap();
    within(client.delete("/test", None)).await.unwrap();
    assert_eq!(within(client.check_stat("/test")).await.unwrap(), None);
    assert_eq!(within(client.get_data("/test")).await, Err(Error::NoNode));
    assert_eq!(
        within(client.delete("/test", None)).await,
        Err(Error::NoNode)
    );
    assert_eq!(
        within(client.create("/no/parent", b"", &persistent())).await,
        Err(Error::NoNode)
    );
    within(client.create("/dup", b"", &persistent()))
        .await
        .unwrap();
    assert_eq!(
        within(client.create("/dup", b"", &persistent())).await,
        Err(Error::NodeExists)
    );
    within(client.sync("/dup")).await.unwrap();
}

#[tokio::test]
async fn mkdir_and_large_data() {
    let server = TestServer::start();
    let client = connect(&server).await;
    within(client.mkdir("/a/b/c", &persistent())).await.unwrap();
    assert!(within(client.check_stat("/a/b/c")).await.unwrap().is_some());
    let blob: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    within(client.create("/a/big", &blob, &persistent()))
        .await
        .unwrap();
    let (data, stat) = within(client.get_data("/a/big")).await.unwrap();
    assert_eq!(stat.data_length, 1_000_000);
    assert!(data == blob);
}

#[tokio::test]
async fn sequential_and_ephemeral_nodes() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let other = connect(&server).await;
    within(client.create("/seq", b"", &persistent()))
        .await
        .unwrap();
    let seq_opts = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    for expected in 0..3 {
        let (_, seq) = within(client.create("/seq/n-", b"", &seq_opts))
            .await
            .unwrap();
        assert_eq!(seq.into_i64(), expected);
        assert_eq!(seq.to_string(), format!("{expected:010}"));
    }
    let mut names = within(client.list_children("/seq")).await.unwrap();
    names.sort();
    assert_eq!(names, ["n-0000000000", "n-0000000001", "n-0000000002"]);

    let eph_seq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (stat, seq) = within(other.create("/seq/e-", b"", &eph_seq))
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), 3);
    assert_eq!(stat.ephemeral_owner, other.session_id().0);
    let (stat, _) = within(other.create("/eph", b"", &ephemeral()))
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, other.session_id().0);
    assert_eq!(
        within(other.create("/eph/child", b"", &persistent())).await,
        Err(Error::NoChildrenForEphemerals)
    );

    // Dropping the last handle closes the session, which deletes its ephemerals.
    let (_, watcher) = within(client.check_and_watch_stat("/eph")).await.unwrap();
    drop(other);
    let event = within(watcher.changed()).await;
    assert_eq!(node_event(&event), (EventType::NodeDeleted, "/eph"));
    assert_eq!(
        within(client.check_stat("/seq/e-0000000003"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn oneshot_watches() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let writer = connect(&server).await;

    // exists-watch on a missing node fires NodeCreated.
    let (stat, created) = within(client.check_and_watch_stat("/w")).await.unwrap();
    assert_eq!(stat, None);
    within(writer.create("/w", b"0", &persistent()))
        .await
        .unwrap();
    let event = within(created.changed()).await;
    assert_eq!(node_event(&event), (EventType::NodeCreated, "/w"));
    // 3.8 sends notifications with zxid -1 (3.9+ sends the txn's zxid).
    assert_eq!(event.zxid, WatchedEvent::NO_ZXID);
    assert_eq!(event.session_state, SessionState::SyncConnected);

    let (_, _, data_watch) = within(client.get_and_watch_data("/w")).await.unwrap();
    let (_, child_watch) = within(client.list_and_watch_children("/w")).await.unwrap();
    within(writer.set_data("/w", b"1", None)).await.unwrap();
    assert_eq!(
        node_event(&within(data_watch.changed()).await),
        (EventType::NodeDataChanged, "/w")
    );
    within(writer.create("/w/c", b"", &persistent()))
        .await
        .unwrap();
    assert_eq!(
        node_event(&within(child_watch.changed()).await),
        (EventType::NodeChildrenChanged, "/w")
    );

    let (_, _, data_watch) = within(client.get_and_watch_data("/w/c")).await.unwrap();
    let (_, parent_watch) = within(client.list_and_watch_children("/w")).await.unwrap();
    within(writer.delete("/w/c", None)).await.unwrap();
    assert_eq!(
        node_event(&within(data_watch.changed()).await),
        (EventType::NodeDeleted, "/w/c")
    );
    assert_eq!(
        node_event(&within(parent_watch.changed()).await),
        (EventType::NodeChildrenChanged, "/w")
    );
}

#[tokio::test]
async fn persistent_watch_fires_repeatedly() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let writer = connect(&server).await;
    within(writer.create("/p", b"", &persistent()))
        .await
        .unwrap();
    let mut watcher = within(client.watch("/p", AddWatchMode::Persistent))
        .await
        .unwrap();

    within(writer.set_data("/p", b"1", None)).await.unwrap();
    within(writer.set_data("/p", b"2", None)).await.unwrap();
    within(writer.create("/p/kid", b"", &persistent()))
        .await
        .unwrap();
    // A persistent (non-recursive) watch does not see the child's own data.
    within(writer.set_data("/p/kid", b"x", None)).await.unwrap();
    within(writer.delete("/p/kid", None)).await.unwrap();
    within(writer.delete("/p", None)).await.unwrap();
    within(writer.create("/p", b"", &persistent()))
        .await
        .unwrap();

    let mut seen = Vec::new();
    for _ in 0..6 {
        let e = within(watcher.changed()).await;
        seen.push((e.event_type, e.path));
    }
    let p = || "/p".to_string();
    assert_eq!(
        seen,
        [
            (EventType::NodeDataChanged, p()),
            (EventType::NodeDataChanged, p()),
            (EventType::NodeChildrenChanged, p()),
            (EventType::NodeChildrenChanged, p()),
            (EventType::NodeDeleted, p()),
            (EventType::NodeCreated, p()),
        ]
    );
}

#[tokio::test]
async fn persistent_recursive_watch_sees_descendants() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let writer = connect(&server).await;
    within(writer.create("/r", b"", &persistent()))
        .await
        .unwrap();
    let mut watcher = within(client.watch("/r", AddWatchMode::PersistentRecursive))
        .await
        .unwrap();

    within(writer.create("/r/a", b"", &persistent()))
        .await
        .unwrap();
    within(writer.create("/r/a/b", b"", &persistent()))
        .await
        .unwrap();
    within(writer.set_data("/r/a/b", b"x", None)).await.unwrap();
    within(writer.delete("/r/a/b", None)).await.unwrap();
    within(writer.create("/elsewhere", b"", &persistent()))
        .await
        .unwrap();
    within(writer.set_data("/r", b"top", None)).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = within(watcher.changed()).await;
        seen.push((e.event_type, e.path));
    }
    // Recursive watches report no NodeChildrenChanged: children show up as their own
    // NodeCreated/NodeDeleted events. /elsewhere is outside the watched tree.
    let s = |p: &str| p.to_string();
    assert_eq!(
        seen,
        [
            (EventType::NodeCreated, s("/r/a")),
            (EventType::NodeCreated, s("/r/a/b")),
            (EventType::NodeDataChanged, s("/r/a/b")),
            (EventType::NodeDeleted, s("/r/a/b")),
            (EventType::NodeDataChanged, s("/r")),
        ]
    );
}

#[tokio::test]
async fn multi_write_and_read() {
    let server = TestServer::start();
    let client = connect(&server).await;
    within(client.create("/m", b"0", &persistent()))
        .await
        .unwrap();
    within(client.create("/m/gone", b"", &persistent()))
        .await
        .unwrap();

    let mut writer = client.new_multi_writer();
    writer.add_create("/m/new", b"n", &persistent()).unwrap();
    writer.add_set_data("/m", b"1", None).unwrap();
    writer.add_check_version("/m", 1).unwrap();
    writer.add_delete("/m/gone", None).unwrap();
    let results = within(writer.commit()).await.unwrap();
    assert_eq!(results.len(), 4);
    match &results[0] {
        MultiWriteResult::Create { path, stat } => {
            assert_eq!(path, "/m/new");
            // ZooKeeper 3.8.0 answers create2 inside multi with a plain create result (path
            // only), which this crate reports as an invalid Stat (ZOOKEEPER-4026). Corral
            // answers as 3.8.4+ does, with the Stat (a listed deliberate difference).
            match ServerKind::from_env() {
                ServerKind::ZooKeeper => assert!(
                    stat.is_invalid(),
                    "3.8.0 returns no stat for creates inside multi: {stat:?}"
                ),
                ServerKind::Corral => {
                    assert!(!stat.is_invalid(), "Corral returns the Stat: {stat:?}");
                    assert_eq!(stat.data_length, 1);
                }
            }
        }
        other => panic!("expected Create, got {other:?}"),
    }
    match &results[1] {
        MultiWriteResult::SetData { stat } => assert_eq!(stat.version, 1),
        other => panic!("expected SetData, got {other:?}"),
    }
    assert_eq!(results[2], MultiWriteResult::Check);
    assert_eq!(results[3], MultiWriteResult::Delete);
    assert_eq!(within(client.list_children("/m")).await.unwrap(), ["new"]);

    // A failing op rolls back the whole multi and reports its index.
    let mut writer = client.new_multi_writer();
    writer.add_create("/m/x", b"", &persistent()).unwrap();
    writer.add_set_data("/m", b"2", Some(7)).unwrap();
    writer.add_delete("/m/new", None).unwrap();
    assert_eq!(
        within(writer.commit()).await,
        Err(MultiWriteError::OperationFailed {
            index: 1,
            source: Error::BadVersion
        })
    );
    assert_eq!(within(client.check_stat("/m/x")).await.unwrap(), None);
    assert_eq!(within(client.get_data("/m")).await.unwrap().0, b"1");

    // multiRead: each op answers on its own; a missing node fails only its slot.
    let mut reader = client.new_multi_reader();
    reader.add_get_data("/m").unwrap();
    reader.add_get_children("/m").unwrap();
    reader.add_get_data("/m/missing").unwrap();
    let results = within(reader.commit()).await.unwrap();
    assert_eq!(results.len(), 3);
    match &results[0] {
        MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"1");
            assert_eq!(stat.version, 1);
        }
        other => panic!("expected Data, got {other:?}"),
    }
    match &results[1] {
        MultiReadResult::Children { children } => assert_eq!(children, &["new"]),
        other => panic!("expected Children, got {other:?}"),
    }
    match &results[2] {
        MultiReadResult::Error { err } => assert_eq!(err, &Error::NoNode),
        other => panic!("expected Error, got {other:?}"),
    }
}

#[tokio::test]
async fn check_writer_guards_writes() {
    let server = TestServer::start();
    let client = connect(&server).await;
    within(client.create("/guard", b"", &persistent()))
        .await
        .unwrap();
    let mut writer = client.new_check_writer("/guard", Some(0)).unwrap();
    writer.add_create("/guard/ok", b"", &persistent()).unwrap();
    within(writer.commit()).await.unwrap();
    within(client.set_data("/guard", b"moved", None))
        .await
        .unwrap();
    let mut writer = client.new_check_writer("/guard", Some(0)).unwrap();
    writer.add_create("/guard/no", b"", &persistent()).unwrap();
    assert!(within(writer.commit()).await.is_err());
    assert_eq!(
        within(client.list_children("/guard")).await.unwrap(),
        ["ok"]
    );
}

#[tokio::test]
async fn acl_auth_and_whoami() {
    let server = TestServer::start();
    let owner = within(
        Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .with_auth("digest", b"alice:secret")
            .connect(&server.connect_string()),
    )
    .await
    .unwrap();
    let stranger = connect(&server).await;

    let creator_all = CreateMode::Persistent.with_acls(Acls::creator_all());
    within(owner.create("/secret", b"s", &creator_all))
        .await
        .unwrap();
    let (acls, stat) = within(owner.get_acl("/secret")).await.unwrap();
    // `auth` expands to the caller's digest identity: user:base64(sha1("user:password")).
    assert_eq!(
        acls,
        [Acl::new(
            Permission::ALL,
            AuthId::new("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")
        )]
    );
    assert_eq!(stat.aversion, 0);

    assert_eq!(
        within(stranger.get_data("/secret")).await,
        Err(Error::NoAuth)
    );
    assert_eq!(
        within(stranger.set_data("/secret", b"x", None)).await,
        Err(Error::NoAuth)
    );
    assert_eq!(
        within(stranger.get_acl("/secret")).await,
        Err(Error::NoAuth)
    );
    assert_eq!(
        within(stranger.create("/secret/c", b"", &persistent())).await,
        Err(Error::NoAuth)
    );
    // Without any authenticated identity, `auth` ACLs are invalid.
    assert_eq!(
        within(stranger.create("/mine", b"", &creator_all)).await,
        Err(Error::InvalidAcl)
    );

    let mut users = within(stranger.list_auth_users()).await.unwrap();
    assert_eq!(users, [AuthUser::new("ip", "127.0.0.1")]);
    within(stranger.auth("digest", b"alice:secret"))
        .await
        .unwrap();
    assert_eq!(within(stranger.get_data("/secret")).await.unwrap().0, b"s");
    users = within(stranger.list_auth_users()).await.unwrap();
    users.sort_by(|a, b| a.scheme().cmp(b.scheme()));
    assert_eq!(
        users,
        [
            AuthUser::new("digest", "alice"),
            AuthUser::new("ip", "127.0.0.1")
        ]
    );

    // setACL with a version check; read-only world ACL then refuses writes.
    let read_only = [Acl::new(
        Permission::READ | Permission::ADMIN,
        AuthId::anyone(),
    )];
    let stat = within(owner.set_acl("/secret", &read_only, Some(0)))
        .await
        .unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        within(owner.set_acl("/secret", &read_only, Some(0))).await,
        Err(Error::BadVersion)
    );
    assert_eq!(
        within(owner.set_data("/secret", b"w", None)).await,
        Err(Error::NoAuth)
    );
    let other = connect(&server).await;
    assert_eq!(within(other.get_data("/secret")).await.unwrap().0, b"s");
}

#[tokio::test]
async fn ephemerals_and_descendant_count() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let other = connect(&server).await;
    within(client.mkdir("/tree/x/y", &persistent()))
        .await
        .unwrap();
    within(client.create("/tree/e1", b"", &ephemeral()))
        .await
        .unwrap();
    within(client.create("/tree/x/e2", b"", &ephemeral()))
        .await
        .unwrap();
    within(client.create("/other-e", b"", &ephemeral()))
        .await
        .unwrap();
    within(other.create("/tree/not-mine", b"", &ephemeral()))
        .await
        .unwrap();

    // getEphemerals: this session's ephemerals under a plain string prefix.
    let mut mine = within(client.list_ephemerals("/")).await.unwrap();
    mine.sort();
    assert_eq!(mine, ["/other-e", "/tree/e1", "/tree/x/e2"]);
    let mut under = within(client.list_ephemerals("/tree")).await.unwrap();
    under.sort();
    assert_eq!(under, ["/tree/e1", "/tree/x/e2"]);
    assert_eq!(
        within(other.list_ephemerals("/")).await.unwrap(),
        ["/tree/not-mine"]
    );

    // getAllChildrenNumber: all descendants, not counting the node itself.
    assert_eq!(
        within(client.count_descendants_number("/tree"))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        within(client.count_descendants_number("/tree/x/y"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        within(client.count_descendants_number("/missing")).await,
        Err(Error::NoNode)
    );
}

#[tokio::test]
async fn containers_and_ttl_nodes_are_reaped() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    let (stat, _) = within(client.create("/box", b"", &container))
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    within(client.create("/unused-box", b"", &container))
        .await
        .unwrap();
    within(client.create("/box/item", b"", &persistent()))
        .await
        .unwrap();
    let (_, watcher) = within(client.check_and_watch_stat("/box")).await.unwrap();
    within(client.delete("/box/item", None)).await.unwrap();
    let event = tokio::time::timeout(BACKGROUND, watcher.changed())
        .await
        .expect("container reaped");
    assert_eq!(node_event(&event), (EventType::NodeDeleted, "/box"));

    let ttl = CreateMode::Persistent
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_millis(1000));
    let (stat, _) = within(client.create("/ttl", b"t", &ttl)).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    let ttl_seq = CreateMode::PersistentSequential
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_millis(1000));
    let (_, seq) = within(client.create("/ttl-", b"", &ttl_seq)).await.unwrap();
    let seq_path = format!("/ttl-{seq}");
    eventually(BACKGROUND, "TTL nodes to expire", || async {
        within(client.check_stat("/ttl")).await.unwrap().is_none()
            && within(client.check_stat(&seq_path))
                .await
                .unwrap()
                .is_none()
    })
    .await;
    // A container that never had a child is never reaped (3.8 behaviour).
    assert!(within(client.check_stat("/unused-box"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn lock_recipe_serializes_holders() {
    let server = TestServer::start();
    let a = connect(&server).await;
    let b = connect(&server).await;
    within(a.create("/locks", b"", &persistent()))
        .await
        .unwrap();
    let options = zk::LockOptions::new(Acls::anyone_all());
    let guard_a = within(a.lock(
        zk::LockPrefix::new_shared("/locks/n-").unwrap(),
        b"a",
        options.clone(),
    ))
    .await
    .unwrap();
    let contender = tokio::spawn({
        let b = b.clone();
        let options = options.clone();
        async move {
            let guard = b
                .lock(
                    zk::LockPrefix::new_shared("/locks/n-").unwrap(),
                    b"b",
                    options,
                )
                .await
                .unwrap();
            guard.lock_path().to_string()
        }
    });
    eventually(STEP, "second contender", || async {
        within(a.list_children("/locks")).await.unwrap().len() == 2
    })
    .await;
    assert!(!contender.is_finished());
    assert_eq!(guard_a.lock_path(), "/locks/n-0000000000");
    drop(guard_a); // deletes the lock node in the background
    let path_b = tokio::time::timeout(STEP, contender)
        .await
        .expect("lock handed over")
        .unwrap();
    assert_eq!(path_b, "/locks/n-0000000001");
}

#[tokio::test]
async fn session_survives_server_restart() {
    let mut server = TestServer::start();
    let client = connect(&server).await;
    let (stat, _) = within(client.create("/survivor", b"", &ephemeral()))
        .await
        .unwrap();
    let session = client.session_id();
    assert_eq!(stat.ephemeral_owner, session.0);
    let mut states = client.state_watcher();
    server.kill9();
    assert_eq!(within(states.changed()).await, SessionState::Disconnected);
    server.start_again();
    assert_eq!(
        tokio::time::timeout(BACKGROUND, states.changed())
            .await
            .unwrap(),
        SessionState::SyncConnected
    );
    assert_eq!(client.session_id(), session);
    let stat: Option<Stat> = within(client.check_stat("/survivor")).await.unwrap();
    assert_eq!(stat.map(|s| s.ephemeral_owner), Some(session.0));
}

#[tokio::test]
async fn four_letter_words() {
    let server = TestServer::start();
    assert_eq!(server.four_letter("ruok").unwrap(), "imok");
    let srvr = server.four_letter("srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: 3.8.0"), "{srvr}");
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
    let mntr = server.four_letter("mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tstandalone\n"), "{mntr}");
}
