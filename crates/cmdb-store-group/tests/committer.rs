//! The group committer against a scripted backend: what goes into which group, how failures
//! and failed syncs are answered, backpressure, and that no caller's executor is blocked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use cmdb_core::ids::{BizId, SetId};
use cmdb_core::plan::{CreatePlan, RequestContext};
use cmdb_core::records::{CreatedSet, Document, SetRecord};
use cmdb_core::{Code, Error, StoreError};
use cmdb_store_group::{GroupBackend, GroupCommitter, GroupError, GroupOptions};
use futures::FutureExt;

/// What the scripted backend does with the next group.
#[derive(Debug, Clone)]
enum Script {
    /// Store every plan (the set id is the plan's position over all groups, from 1).
    Commit,
    /// Refuse the plans named `bad`, store the others.
    RefuseBad,
    /// Fail the whole transaction.
    Fail,
    /// Fail the sync.
    FailSync,
}

/// A backend that records the group sizes, tells when a commit starts, and may hold a commit
/// until released.
struct Scripted {
    script: Mutex<Script>,
    groups: Mutex<Vec<Vec<String>>>,
    entered: Arc<AtomicBool>,
    gate: Mutex<Option<std_mpsc::Receiver<()>>>,
}

impl Scripted {
    fn new(script: Script) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script),
            groups: Mutex::new(Vec::new()),
            entered: Arc::new(AtomicBool::new(false)),
            gate: Mutex::new(None),
        })
    }

    /// The next commit sets the returned flag when it starts, then waits until the returned
    /// sender sends (or is dropped).
    fn hold_next(&self) -> (Arc<AtomicBool>, std_mpsc::Sender<()>) {
        let (release_tx, release_rx) = std_mpsc::channel();
        *self.gate.lock().unwrap() = Some(release_rx);
        (Arc::clone(&self.entered), release_tx)
    }

    fn group_sizes(&self) -> Vec<usize> {
        self.groups.lock().unwrap().iter().map(Vec::len).collect()
    }
}

impl GroupBackend for Scripted {
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            self.entered.store(true, Ordering::SeqCst);
            let _ = gate.recv();
        }
        let mut groups = self.groups.lock().unwrap();
        let first = groups.iter().map(Vec::len).sum::<usize>() as i64 + 1;
        groups.push(plans.iter().map(|p| p.name.clone()).collect());
        match self.script.lock().unwrap().clone() {
            Script::Fail => Err(GroupError::Failed(StoreError::Busy("held".into()))),
            Script::FailSync => Err(GroupError::SyncFailed(StoreError::Backend("EIO".into()))),
            script => Ok(plans
                .iter()
                .enumerate()
                .map(|(i, p)| match script {
                    Script::RefuseBad if p.name == "bad" => Err(Error::SetNameDuplicated),
                    _ => Ok(created(p, first + i as i64)),
                })
                .collect()),
        }
    }
}

fn created(plan: &CreatePlan, id: i64) -> CreatedSet {
    CreatedSet {
        set: SetRecord {
            id: SetId(id),
            biz: plan.biz,
            parent: plan.parent,
            name: plan.name.clone(),
            builtin: false,
            unique_keys: Vec::new(),
            doc: Default::default(),
        },
        modules: Vec::new(),
        audits: Vec::new(),
    }
}

fn plan(name: &str) -> CreatePlan {
    CreatePlan {
        biz: BizId(1),
        supplier_account: "0".into(),
        parent: 1,
        name: name.into(),
        builtin: false,
        set_doc: Document::new(),
        module_docs: Vec::new(),
        unique_keys: Vec::new(),
        context: RequestContext {
            user: "u".into(),
            supplier_account: "0".into(),
            app_code: String::new(),
            request_id: String::new(),
        },
        time: String::new(),
        catalog_version: None,
    }
}

/// Submits one create per name as a task of its own on the current runtime.
fn submit(
    committer: &Arc<GroupCommitter>,
    names: Vec<String>,
) -> tokio::task::JoinHandle<Vec<Result<CreatedSet, Error>>> {
    let committer = Arc::clone(committer);
    tokio::spawn(async move {
        committer
            .commit(names.iter().map(|n| plan(n)).collect())
            .await
    })
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Yields to the runtime until `done` holds (each round lets every other task run once).
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::task::yield_now().await;
    }
}

#[test]
fn what_queues_during_a_commit_goes_into_the_next_group() {
    let backend = Scripted::new(Script::Commit);
    let committer = Arc::new(GroupCommitter::start(
        "t-writer",
        Arc::clone(&backend),
        GroupOptions::default(),
    ));
    let (entered, release) = backend.hold_next();
    current_thread().block_on(async {
        let first = submit(&committer, vec!["first".into()]);
        // The writer is inside the first commit (held): queue ten more meanwhile.
        until(|| entered.load(Ordering::SeqCst)).await;
        let later: Vec<_> = (0..10)
            .map(|i| submit(&committer, vec![format!("later-{i}")]))
            .collect();
        until(|| committer.stats().in_flight == 11).await;
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap()[0].as_ref().unwrap().set.id, SetId(1));
        let mut ids = Vec::new();
        for task in later {
            ids.push(task.await.unwrap()[0].as_ref().unwrap().set.id.0);
        }
        ids.sort_unstable();
        assert_eq!(ids, (2..=11).collect::<Vec<_>>());
    });
    // The first commit held one create; the ten that queued meanwhile shared the next one.
    assert_eq!(backend.group_sizes(), [1, 10]);
    let stats = committer.stats();
    assert_eq!((stats.commits, stats.creates, stats.in_flight), (2, 11, 0));
}

#[test]
fn groups_are_capped_by_count_and_a_large_submission_commits_whole() {
    let backend = Scripted::new(Script::Commit);
    let options = GroupOptions {
        max_creates: 4,
        ..GroupOptions::default()
    };
    let committer = Arc::new(GroupCommitter::start(
        "t-writer",
        Arc::clone(&backend),
        options,
    ));
    let (entered, release) = backend.hold_next();
    current_thread().block_on(async {
        let first = submit(&committer, vec!["first".into()]);
        until(|| entered.load(Ordering::SeqCst)).await;
        let mut later: Vec<_> = (0..10)
            .map(|i| submit(&committer, vec![format!("l-{i}")]))
            .collect();
        // A batch of six, larger than the cap, queued last.
        later.push(submit(
            &committer,
            (0..6).map(|i| format!("b-{i}")).collect(),
        ));
        until(|| committer.stats().in_flight == 17).await;
        release.send(()).unwrap();
        first.await.unwrap();
        for task in later {
            assert!(task.await.unwrap().iter().all(Result::is_ok));
        }
    });
    assert_eq!(backend.group_sizes(), [1, 4, 4, 2, 6]);
}

#[test]
fn each_result_reaches_its_own_caller_and_refusals_stay_alone() {
    let backend = Scripted::new(Script::RefuseBad);
    let committer =
        GroupCommitter::start("t-writer", Arc::clone(&backend), GroupOptions::default());
    let results =
        futures::executor::block_on(committer.commit(vec![plan("a"), plan("bad"), plan("b")]));
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(results[1], Err(Error::SetNameDuplicated));
    let stats = committer.stats();
    assert_eq!((stats.commits, stats.creates), (1, 2));
}

#[test]
fn a_failed_commit_fails_every_create_in_it_and_the_store_goes_on() {
    let backend = Scripted::new(Script::Fail);
    let committer =
        GroupCommitter::start("t-writer", Arc::clone(&backend), GroupOptions::default());
    let results = futures::executor::block_on(committer.commit(vec![plan("a"), plan("b")]));
    assert_eq!(results.len(), 2);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.code(), Code::Internal);
        assert_eq!(*e, Error::Store(StoreError::Busy("held".into())));
    }
    assert_eq!(committer.refusal(), None);
    *backend.script.lock().unwrap() = Script::Commit;
    let again = futures::executor::block_on(committer.commit(vec![plan("c")]));
    assert!(again[0].is_ok());
}

#[test]
fn a_failed_sync_refuses_every_later_write() {
    let backend = Scripted::new(Script::FailSync);
    let committer =
        GroupCommitter::start("t-writer", Arc::clone(&backend), GroupOptions::default());
    let results = futures::executor::block_on(committer.commit(vec![plan("a")]));
    assert_eq!(
        results[0],
        Err(Error::Store(StoreError::Backend("EIO".into())))
    );
    // The backend would now succeed, but the store refuses until reopened.
    *backend.script.lock().unwrap() = Script::Commit;
    let later = futures::executor::block_on(committer.commit(vec![plan("b")]));
    let refused = later[0].as_ref().unwrap_err();
    assert_eq!(refused.code(), Code::Internal);
    assert!(refused_message(refused).contains("refuses writes until it is reopened"));
    let exclusive = futures::executor::block_on(committer.exclusive(|_| 1));
    assert!(matches!(exclusive, Err(StoreError::Backend(m)) if m.contains("reopened")));
    assert_eq!(
        backend.group_sizes(),
        [1],
        "nothing reached the backend after the failure"
    );
}

#[test]
fn a_failed_sync_in_exclusive_work_refuses_every_later_write() {
    let backend = Scripted::new(Script::Commit);
    let committer =
        GroupCommitter::start("t-writer", Arc::clone(&backend), GroupOptions::default());
    // A write that is not a create (a fixture load, say) commits, then its sync fails.
    let ran = futures::executor::block_on(committer.exclusive(|alarm| {
        alarm.raise(&StoreError::Backend("EIO on fsync".into()));
        "committed, not synced"
    }));
    assert_eq!(ran, Ok("committed, not synced"));
    let refusal = committer.refusal().expect("the store refuses writes now");
    assert!(refusal.to_string().contains("EIO on fsync"), "{refusal}");
    let later = futures::executor::block_on(committer.commit(vec![plan("b")]));
    assert!(refused_message(later[0].as_ref().unwrap_err()).contains("until it is reopened"));
    let exclusive = futures::executor::block_on(committer.exclusive(|_| 1));
    assert_eq!(exclusive, Err(refusal));
    assert!(
        backend.group_sizes().is_empty(),
        "no create reached the backend"
    );
}

#[test]
fn exclusive_work_that_raises_no_alarm_leaves_the_store_writable() {
    let backend = Scripted::new(Script::Commit);
    let committer =
        GroupCommitter::start("t-writer", Arc::clone(&backend), GroupOptions::default());
    let ran = futures::executor::block_on(committer.exclusive(|_| 7));
    assert_eq!(ran, Ok(7));
    assert_eq!(committer.refusal(), None);
    let created = futures::executor::block_on(committer.commit(vec![plan("a")]));
    assert!(created[0].is_ok());
}

fn refused_message(e: &Error) -> String {
    match e {
        Error::Store(s) => s.to_string(),
        other => panic!("not a store error: {other:?}"),
    }
}

#[test]
fn a_full_queue_makes_callers_wait_instead_of_growing() {
    let backend = Scripted::new(Script::Commit);
    let options = GroupOptions {
        queue_capacity: 2,
        ..GroupOptions::default()
    };
    let committer = Arc::new(GroupCommitter::start(
        "t-writer",
        Arc::clone(&backend),
        options,
    ));
    let (entered, release) = backend.hold_next();
    current_thread().block_on(async {
        let first = submit(&committer, vec!["first".into()]);
        until(|| entered.load(Ordering::SeqCst)).await;
        let queued: Vec<_> = (0..2)
            .map(|i| submit(&committer, vec![format!("q-{i}")]))
            .collect();
        until(|| committer.stats().in_flight == 3).await;
        // The queue holds two: a fourth submission cannot be sent yet.
        let mut fourth = Box::pin(committer.commit(vec![plan("fourth")]));
        assert!((&mut fourth).now_or_never().is_none());
        assert_eq!(
            committer.stats().in_flight,
            3,
            "the fourth is not in flight"
        );
        release.send(()).unwrap();
        first.await.unwrap();
        for task in queued {
            task.await.unwrap();
        }
        assert!(fourth.await[0].is_ok());
    });
    assert_eq!(backend.group_sizes(), [1, 2, 1]);
}

/// A create whose commit waits until another task of the same current-thread runtime releases
/// it completes: the caller's thread is never blocked by the commit (it would deadlock).
#[test]
fn a_held_commit_never_blocks_the_callers_runtime() {
    let backend = Scripted::new(Script::Commit);
    let committer = Arc::new(GroupCommitter::start(
        "t-writer",
        Arc::clone(&backend),
        GroupOptions::default(),
    ));
    let (entered, release) = backend.hold_next();
    let result = current_thread().block_on(async {
        let create = submit(&committer, vec!["held".into()]);
        let releaser = tokio::spawn(async move {
            until(|| entered.load(Ordering::SeqCst)).await;
            release.send(()).unwrap();
        });
        releaser.await.unwrap();
        create.await.unwrap()
    });
    assert_eq!(result[0].as_ref().unwrap().set.id, SetId(1));
}
