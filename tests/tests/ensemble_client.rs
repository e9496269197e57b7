//! The `zookeeper-client` crate against a real 3-server ensemble (Corral, or ZooKeeper
//! 3.8.0 with `CORRAL_E2E_SERVER=zookeeper`): writes through every member, a session that
//! survives its server's death, the leader killed between writes.

use std::time::Duration;

use corral_tests::TestEnsemble;
use zk::{Acls, Client, CreateMode, CreateOptions};
use zookeeper_client as zk;

const STEP: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(STEP, fut)
        .await
        .expect("client step timed out")
}

async fn connect(hosts: &str) -> Client {
    within(
        Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(hosts),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_member_and_reads_after_sync() {
    let ens = TestEnsemble::start(3);
    let clients: Vec<Client> = {
        let mut v = Vec::new();
        for m in &ens.members {
            v.push(connect(&m.connect_string()).await);
        }
        v
    };
    within(clients[0].create("/ens", b"", &persistent()))
        .await
        .unwrap();
    for (i, c) in clients.iter().enumerate() {
        within(c.create(&format!("/ens/from{i}"), b"x", &persistent()))
            .await
            .unwrap();
    }
    for c in &clients {
        within(c.sync("/ens")).await.unwrap();
        let (mut children, _) = within(c.get_children("/ens")).await.unwrap();
        children.sort();
        assert_eq!(children, vec!["from0", "from1", "from2"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_and_its_ephemeral_survive_the_leaders_death() {
    let mut ens = TestEnsemble::start(3);
    let client = connect(&ens.connect_string()).await;
    let session = client.session().id();
    within(client.create("/owned", b"", &ephemeral()))
        .await
        .unwrap();
    within(client.create("/before", b"", &persistent()))
        .await
        .unwrap();
    let leader = ens.leader().expect("a leader");
    ens.kill9(leader);
    // The client keeps retrying until a new leader serves its write.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(STEP, client.create("/after", b"", &persistent())).await {
            Ok(Ok(_)) => break,
            Ok(Err(zk::Error::NodeExists)) => break,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no write accepted after the leader died: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        client.session().id(),
        session,
        "same session after failover"
    );
    ens.restart(leader);
    ens.wait_ready();
    for m in &ens.members {
        let c = connect(&m.connect_string()).await;
        within(c.sync("/")).await.unwrap();
        for p in ["/owned", "/before", "/after"] {
            assert!(
                within(c.check_stat(p)).await.unwrap().is_some(),
                "{p} on member {}",
                m.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_serve_with_two_of_them_down() {
    let mut ens = TestEnsemble::start(5);
    let leader = ens.leader().expect("a leader");
    let down: Vec<usize> = (0..5).filter(|i| *i != leader).take(2).collect();
    for i in &down {
        ens.kill9(*i);
    }
    let live: Vec<String> = (0..5)
        .filter(|i| !down.contains(i))
        .map(|i| ens.members[i].connect_string())
        .collect();
    let client = connect(&live.join(",")).await;
    within(client.create("/five", b"three of five", &persistent()))
        .await
        .unwrap();
    for i in down {
        ens.restart(i);
    }
    ens.wait_ready();
    for m in &ens.members {
        let c = connect(&m.connect_string()).await;
        within(c.sync("/five")).await.unwrap();
        let (data, _) = within(c.get_data("/five")).await.unwrap();
        assert_eq!(data, b"three of five", "member {}", m.id);
    }
}
