//! The supervision tree restarts what dies and keeps it wired. One test function: actor names
//! are process-global, so only one tree may run in this test binary at a time.

use std::time::{Duration, Instant};

use serde_json::json;
use toposync_actors::Runtime;
use toposync_actors::model::edit;
use toposync_actors::store::{self, STORE};
use toposync_actors::supervision::observe::ActorSnapshot;
use toposync_actors::supervision::{Fault, ask};
use toposync_actors::transmissions::{TRANSMISSIONS, TransmissionMsg, TransmissionsMsg};

const DEADLINE: Duration = Duration::from_secs(5);

async fn wait_for(
    runtime: &Runtime,
    what: &str,
    test: impl Fn(&ActorSnapshot) -> bool,
) -> ActorSnapshot {
    let start = Instant::now();
    loop {
        let tree = runtime.snapshot(Duration::from_millis(500)).await;
        if test(&tree) {
            return tree;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not reached; last tree {tree:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn child<'a>(tree: &'a ActorSnapshot, name: &str) -> &'a ActorSnapshot {
    tree.children
        .iter()
        .find(|c| c.name == name)
        .expect("child present")
}

async fn create(path: &str) -> String {
    let body = json!({"name": path, "path": path});
    store::mutate(
        move |doc| edit::create_transmission(doc, body, &edit::now_rfc3339()),
        DEADLINE,
    )
    .await
    .unwrap()
    .id
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Two JSMpeg viewers of one transmission; one session errors, panics or freezes (found by the
/// supervisor's liveness check): it ends and its FFmpeg is reaped, the other plays on. Sessions
/// are never restarted (the viewer reconnects), so each round opens a new one.
async fn jsmpeg_sessions_that_fail_end_alone(runtime: &Runtime, transmission_id: &str) {
    use toposync_actors::jsmpeg::{JsmpegMsg, SessionRequest, jsmpeg};
    let revision = store::read(DEADLINE).await.unwrap();
    let transmission = revision
        .settings
        .transmissions
        .iter()
        .find(|t| t.id == transmission_id)
        .unwrap()
        .clone();
    let open = || async {
        let actor = toposync_actors::transmissions::lookup(transmission_id, DEADLINE)
            .await
            .unwrap()
            .unwrap();
        let viewing = ask(&actor, TransmissionMsg::Viewing, DEADLINE)
            .await
            .unwrap();
        let request = SessionRequest {
            transmission_id: transmission.id.clone(),
            // It has no outputs: the session only primes this id's demand, which is a no-op.
            output_id: "none".into(),
            resolution: None,
            settings: revision.settings.engine.jsmpeg.clone(),
            viewing,
        };
        let session = ask(
            &jsmpeg().unwrap(),
            |reply| JsmpegMsg::Open(Box::new(request), reply),
            DEADLINE,
        )
        .await
        .unwrap()
        .unwrap_or_else(|refusal| panic!("refused: {}", refusal.message()));
        let start = Instant::now();
        loop {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            let sessions: Vec<(String, u32)> = child(&tree, "jsmpeg")
                .children
                .iter()
                .filter_map(|n| Some((n.name.clone(), n.pid?)))
                .collect();
            if let Some(newest) = sessions.iter().max_by_key(|(name, _)| session_number(name)) {
                return (session, newest.clone());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "session without FFmpeg: {tree:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (_kept, (kept_name, kept_pid)) = open().await;
    for fault in [Fault::Error, Fault::Panic, Fault::Freeze] {
        let (victim, (name, pid)) = open().await;
        assert_ne!(name, kept_name);
        assert!(runtime.inject_fault(&["jsmpeg", &name], fault).await);
        let start = Instant::now();
        loop {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            let names: Vec<&str> = child(&tree, "jsmpeg")
                .children
                .iter()
                .map(|n| n.name.as_str())
                .collect();
            if !names.contains(&name.as_str()) && !process_alive(pid) {
                assert!(
                    names.contains(&kept_name.as_str()),
                    "{fault:?}: the other session ended too"
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{fault:?}: session {name} (FFmpeg {pid}) still there: {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(victim);
        assert!(
            process_alive(kept_pid),
            "{fault:?}: the other session's FFmpeg was stopped"
        );
    }
}

fn session_number(name: &str) -> u64 {
    name.rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

const SINGLETONS: [&str; 8] = [
    "store",
    "engine",
    "sidecar",
    "transmissions",
    "pipelines",
    "demand",
    "jsmpeg",
    "sync",
];

fn registered(name: &str) -> Option<ractor::ActorId> {
    ractor::registry::where_is(name).map(|cell| cell.get_id())
}

/// Every child of the root returns `Err` and then panics, one at a time: each comes back alone
/// (its siblings keep their actors). Then all but the store freeze at once: the root's liveness
/// check kills and restarts each, the store untouched. No task is left behind.
async fn singletons_that_fail_are_restarted_alone(runtime: &Runtime) {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let tasks_before = alive();
    let restarts = |tree: &ActorSnapshot, name: &str| child(tree, name).restarts;
    let restarted = |name: &'static str, before: u32| {
        move |tree: &ActorSnapshot| {
            let node = child(tree, name);
            node.restarts == before + 1 && node.status == "running" && registered(name).is_some()
        }
    };
    for fault in [Fault::Error, Fault::Panic] {
        for name in SINGLETONS {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            let before = restarts(&tree, name);
            let siblings: Vec<_> = SINGLETONS
                .iter()
                .filter(|other| **other != name)
                .map(|other| (*other, registered(other)))
                .collect();
            assert!(runtime.inject_fault(&[name], fault).await, "{name} found");
            wait_for(
                runtime,
                &format!("{name} back after {fault:?}"),
                restarted(name, before),
            )
            .await;
            for (other, id) in siblings {
                assert_eq!(
                    registered(other),
                    id,
                    "{fault:?} of {name} restarted {other}"
                );
            }
        }
    }
    let frozen: Vec<&str> = SINGLETONS.into_iter().filter(|n| *n != "store").collect();
    let tree = runtime.snapshot(Duration::from_millis(500)).await;
    let before: Vec<(&str, u32)> = frozen.iter().map(|n| (*n, restarts(&tree, n))).collect();
    let store_id = registered("store");
    for name in &frozen {
        assert!(runtime.inject_fault(&[name], Fault::Freeze).await);
    }
    // 30 s of silence is a freeze for a singleton (see `LivenessPolicy::SINGLETON`).
    let start = Instant::now();
    loop {
        let tree = runtime.snapshot(Duration::from_millis(500)).await;
        if before
            .iter()
            .all(|(name, count)| restarted(name, *count)(&tree))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "frozen singletons not restarted: {tree:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(registered("store"), store_id, "the store was left alone");
    // The restarted tree still works end to end.
    create("after-faults").await;
    let start = Instant::now();
    while alive() > tasks_before {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tasks {tasks_before} -> {}: leaked",
            alive()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failed_children_are_restarted_with_their_wiring() {
    let dir = tempfile::tempdir().unwrap();
    // A processing server's tree (its sync child too), whose core is never there.
    let sync = toposync_actors::sync::SyncConfig {
        server_id: "gpu".into(),
        core_url: "http://127.0.0.1:9".into(),
        auth: toposync_actors::sync::SyncAuth::None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
    };
    let runtime = Runtime::start_with(dir.path().to_path_buf(), Some(sync), None)
        .await
        .unwrap();
    let first = create("first").await;

    // A killed transmission actor comes back, counted, with its configuration.
    let transmissions = ractor::registry::where_is(TRANSMISSIONS).unwrap();
    let victim = transmissions
        .get_children()
        .pop()
        .expect("one transmission actor");
    victim.kill();
    let tree = wait_for(&runtime, "transmission restarted", |tree| {
        let node = &child(tree, TRANSMISSIONS).children;
        node.len() == 1 && node[0].restarts == 1 && node[0].status == "running"
    })
    .await;
    let node = &child(&tree, TRANSMISSIONS).children[0];
    assert_eq!(node.name, format!("transmission:{first}"));
    assert_eq!(node.state["path"], "first");
    assert!(node.last_error.is_some());

    // A killed store is restarted from its file, and still drives the transmissions.
    ractor::registry::where_is(STORE).unwrap().kill();
    wait_for(&runtime, "store restarted", |tree| {
        let store = child(tree, STORE);
        store.restarts == 1 && store.status == "running"
    })
    .await;
    let revision = store::read(DEADLINE).await.unwrap();
    assert_eq!(
        revision.settings.transmissions.len(),
        1,
        "reloaded from disk"
    );
    let second = create("second").await;
    let tree = runtime.snapshot(Duration::from_millis(500)).await;
    let mut names: Vec<&str> = child(&tree, TRANSMISSIONS)
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    names.sort();
    let mut expected = [
        format!("transmission:{first}"),
        format!("transmission:{second}"),
    ];
    expected.sort();
    assert_eq!(names, expected, "the restarted store is re-subscribed");

    // A child that errors, panics or freezes is restarted; its sibling is untouched; no task is
    // left behind.
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let transmission_actor = |id: &str| {
        let id = id.to_string();
        async move {
            let supervisor = ractor::registry::where_is(TRANSMISSIONS).unwrap();
            let supervisor: ractor::ActorRef<TransmissionsMsg> = supervisor.into();
            ask(
                &supervisor,
                |reply| TransmissionsMsg::Lookup(id, reply),
                DEADLINE,
            )
            .await
            .unwrap()
        }
    };
    let restarts_of = |tree: &ActorSnapshot, id: &str| {
        child(tree, TRANSMISSIONS)
            .children
            .iter()
            .find(|c| c.name == format!("transmission:{id}"))
            .map(|c| (c.restarts, c.status.clone()))
    };
    let sibling = transmission_actor(&second).await.unwrap().get_id();
    let tasks_before = alive();
    for (round, fault) in [Fault::Error, Fault::Panic, Fault::Freeze]
        .into_iter()
        .enumerate()
    {
        let before = transmission_actor(&first).await.unwrap();
        before.send_message(TransmissionMsg::Fault(fault)).unwrap();
        let expected = 2 + round as u32; // one kill above, then one per fault
        let start = Instant::now();
        loop {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            let now = transmission_actor(&first).await;
            if restarts_of(&tree, &first) == Some((expected, "running".into()))
                && now.is_some_and(|a| a.get_id() != before.get_id())
            {
                break;
            }
            // A frozen child is found by the liveness check (every 3 s, two misses).
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{fault:?}: not restarted; tree {tree:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            transmission_actor(&second).await.unwrap().get_id(),
            sibling,
            "{fault:?}: the sibling was not restarted"
        );
    }
    let start = Instant::now();
    while alive() > tasks_before {
        assert!(
            start.elapsed() < DEADLINE,
            "tasks {tasks_before} -> {}: leaked",
            alive()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A panic in an edit fails that request only: nothing changes and the store goes on.
    let before = store::read(DEADLINE).await.unwrap().number;
    let panicked = store::mutate(
        |_doc| -> Result<(), toposync_actors::model::error::ModelError> {
            panic!("a bug in an edit")
        },
        DEADLINE,
    )
    .await;
    assert!(
        matches!(&panicked, Err(store::StoreError::Panicked(why)) if why.contains("a bug in an edit")),
        "{panicked:?}"
    );
    assert_eq!(store::read(DEADLINE).await.unwrap().number, before);
    create("third").await;

    // A write still queued at its deadline is withdrawn: it answers "not applied" and is
    // never applied later.
    let slow = tokio::spawn(store::mutate(
        |_doc| -> Result<(), toposync_actors::model::error::ModelError> {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(())
        },
        DEADLINE,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = store::mutate(
        |doc| {
            let body = json!({"name": "late", "path": "late"});
            edit::create_transmission(doc, body, &edit::now_rfc3339())
        },
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(
            late,
            Err(store::StoreError::Unavailable(
                toposync_actors::supervision::AskError::Timeout
            ))
        ),
        "{late:?}"
    );
    slow.await.unwrap().unwrap();
    let revision = store::read(DEADLINE).await.unwrap();
    assert!(
        revision
            .settings
            .transmissions
            .iter()
            .all(|t| t.path != "late"),
        "the withdrawn write was applied"
    );
    let tree = runtime.snapshot(Duration::from_millis(500)).await;
    assert_eq!(
        child(&tree, STORE).restarts,
        1,
        "the store was not restarted"
    );

    // A killed transmissions supervisor is restarted and re-synced from the store.
    ractor::registry::where_is(TRANSMISSIONS).unwrap().kill();
    wait_for(&runtime, "supervisor restarted and synced", |tree| {
        let node = child(tree, TRANSMISSIONS);
        node.restarts == 1 && node.status == "running" && node.children.len() == 3
    })
    .await;

    jsmpeg_sessions_that_fail_end_alone(&runtime, &first).await;
    singletons_that_fail_are_restarted_alone(&runtime).await;

    runtime.shutdown().await;
    assert!(
        ractor::registry::where_is(STORE).is_none(),
        "shutdown stops every actor"
    );
    assert!(ractor::registry::where_is(TRANSMISSIONS).is_none());

    // A root supervisor that dies on its own is noticed (the service then exits non-zero, so
    // its own supervisor restarts it) and takes the tree with it.
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(dir.path().to_path_buf()).await.unwrap();
    ractor::registry::where_is(toposync_actors::root::ROOT)
        .unwrap()
        .kill();
    tokio::time::timeout(DEADLINE, runtime.ended())
        .await
        .expect("the root's end is noticed");
    let start = Instant::now();
    while ractor::registry::where_is(STORE).is_some() {
        assert!(start.elapsed() < DEADLINE, "children outlived the root");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
