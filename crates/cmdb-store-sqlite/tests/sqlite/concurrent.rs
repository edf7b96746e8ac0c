//! Two stores (two connections) on one file, racing to create the same names from several
//! threads: one winner per name, every loser 1101108, ids unique and gapless.

use std::collections::BTreeMap;
use std::sync::Arc;

use cmdb_core::Error;
use cmdb_core::ids::{BizId, SequenceKind};
use cmdb_core::ports::SetStore;
use serde_json::Value;

use crate::support::{TempDb, create_named, example_fixture, load};

const NAMES: usize = 12;
const ATTEMPTS_PER_STORE: usize = 3;

#[test]
fn two_connections_race_on_one_file() {
    let db = TempDb::new();
    let first: Arc<dyn SetStore> = Arc::new(db.open());
    let second: Arc<dyn SetStore> = Arc::new(db.open());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");

    runtime.block_on(async {
        load(first.as_ref(), example_fixture()).await;
        // Every name is tried ATTEMPTS_PER_STORE times through each store, all at once.
        let mut tasks = Vec::new();
        for round in 0..ATTEMPTS_PER_STORE {
            for n in 0..NAMES {
                for store in [&first, &second] {
                    let store = Arc::clone(store);
                    let name = format!("set-{n}");
                    tasks.push((
                        name.clone(),
                        round,
                        tokio::spawn(async move { create_named(store.as_ref(), &name).await }),
                    ));
                }
            }
        }
        let mut winners: BTreeMap<String, i64> = BTreeMap::new();
        let mut losers = 0;
        for (name, _round, task) in tasks {
            match task.await.expect("the task ran") {
                Ok(created) => {
                    assert_eq!(created.set.name, name);
                    let previous = winners.insert(name.clone(), created.set.id.0);
                    assert_eq!(previous, None, "{name} was created twice");
                }
                Err(e) => {
                    assert_eq!(e, Error::SetNameDuplicated, "a loser for {name}");
                    assert_eq!(e.code().number(), 1_101_108);
                    losers += 1;
                }
            }
        }
        assert_eq!(winners.len(), NAMES, "every name has exactly one winner");
        assert_eq!(losers, NAMES * (2 * ATTEMPTS_PER_STORE - 1));

        let mut ids: Vec<i64> = winners.values().copied().collect();
        ids.sort_unstable();
        let expected: Vec<i64> = (4780..4780 + NAMES as i64).collect();
        assert_eq!(
            ids, expected,
            "ids are unique and no failed create took one"
        );

        // Both connections see the same sets, the same audit trail and the same sequences.
        let from_first = first.sets(BizId(1), None).await.expect("sets");
        let from_second = second.sets(BizId(1), None).await.expect("sets");
        assert_eq!(from_first, from_second);
        assert_eq!(from_first.len(), NAMES + 1);
        for set in &from_first[1..] {
            let name = set["bk_set_name"].as_str().expect("a name");
            assert_eq!(set["bk_set_id"], Value::from(winners[name]));
        }
        let audit = second.audit_records(BizId(1), None).await.expect("audit");
        let audit_ids: Vec<i64> = audit.iter().filter_map(|a| a["id"].as_i64()).collect();
        assert_eq!(audit_ids, (1..=NAMES as i64).collect::<Vec<_>>());
        for kind in SequenceKind::ALL {
            assert_eq!(
                first.sequence_last(kind).await,
                second.sequence_last(kind).await
            );
        }
        assert_eq!(
            first.sequence_last(SequenceKind::Set).await,
            Ok(4779 + NAMES as i64)
        );
    });
}
