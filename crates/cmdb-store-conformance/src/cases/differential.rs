//! Case: a differential property test. Random sequences of catalog loads, creates, atomic
//! batches and sequence raises run against the store under test and against a fresh
//! [`MemoryStore`] (the reference model) must give the same results and the same final state.

use std::fmt::Write as _;

use cmdb_core::error::Error;
use cmdb_core::fixture::LoadReport;
use cmdb_core::ids::SequenceKind;
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::CreatedSet;
use cmdb_store_memory::MemoryStore;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::StoreFactory;
use crate::support::{context, load, plan, sequences, snapshot};

/// How many random operation sequences are tried.
const CASES: u32 = 64;
/// How many shrinking steps a failure may take.
const MAX_SHRINK_STEPS: u32 = 256;
/// The businesses the operations touch (4 is never created by the base fixture).
const BIZZES: [i64; 4] = [1, 2, 3, 4];

/// One set to create: every field picks among a few values, so that names and unique keys
/// collide, parents are sometimes wrong, built-in sets and templates are sometimes refused.
#[derive(Debug, Clone)]
struct SetSpec {
    biz: i64,
    parent: ParentPick,
    name: &'static str,
    builtin: bool,
    /// 0 → none, 1 and 2 exist in biz 1, 9 does not exist.
    template: i64,
    /// `None` → absent.
    owner: Option<Value>,
}

/// Which `bk_parent_id` a [`SetSpec`] asks for.
#[derive(Debug, Clone, Copy)]
enum ParentPick {
    /// The right one in most cases: instance 50 with custom levels (unless built-in), else the biz.
    Natural,
    /// Instance 51 with custom levels, else the biz.
    Other,
    /// The biz itself.
    Biz,
    /// An id that names nothing.
    Unknown,
}

impl SetSpec {
    fn data(&self, levels: bool) -> Value {
        let parent = match self.parent {
            ParentPick::Natural if levels && !self.builtin => 50,
            ParentPick::Other if levels => 51,
            ParentPick::Natural | ParentPick::Other | ParentPick::Biz => self.biz,
            ParentPick::Unknown => 999,
        };
        let mut data = json!({"bk_parent_id": parent, "bk_set_name": self.name});
        if self.builtin {
            data["default"] = json!(1);
        }
        if self.template != 0 {
            data["set_template_id"] = json!(self.template);
        }
        if let Some(owner) = &self.owner {
            data["owner_team"] = owner.clone();
        }
        data
    }
}

/// One operation, applied to both stores.
#[derive(Debug, Clone)]
enum Op {
    /// Load a fixture with one business.
    LoadBiz {
        id: i64,
        name: &'static str,
        archived: bool,
        idle: bool,
    },
    /// Load a fixture with only an `id_generator` entry.
    LoadIds { kind: &'static str, value: i64 },
    /// Plan and create one set.
    Create(SetSpec),
    /// Plan several sets and create them in one atomic batch.
    Batch(Vec<SetSpec>),
    /// Raise a sequence through the store.
    Raise { kind: SequenceKind, value: i64 },
}

/// The random setup of the catalog and the operations that follow.
#[derive(Debug, Clone)]
struct Scenario {
    /// Whether the tenant has a `province` level with instances 50 and 51 in biz 1.
    levels: bool,
    /// Whether `[bk_biz_id, owner_team]` is a unique rule.
    owner_rule: bool,
    ops: Vec<Op>,
}

fn set_spec() -> impl Strategy<Value = SetSpec> {
    use ParentPick::{Biz, Natural, Other, Unknown};
    (
        prop::sample::select(vec![1i64, 1, 1, 1, 1, 1, 2, 3, 4]),
        prop::sample::select(vec![
            Natural, Natural, Natural, Natural, Other, Other, Biz, Unknown,
        ]),
        prop::sample::select(vec![
            "a",
            "a",
            "a",
            "b",
            "b",
            "b",
            "c",
            "c",
            " a ",
            "空闲机池",
            "bad/name",
        ]),
        prop::bool::weighted(0.05),
        prop::sample::select(vec![0i64, 0, 0, 0, 0, 1, 1, 2, 2, 9]),
        prop::sample::select(vec![
            None,
            None,
            None,
            Some(json!("ops")),
            Some(json!("ops")),
            Some(json!("ops")),
            Some(json!("dev")),
            Some(json!("dev")),
            Some(json!("")),
            Some(Value::Null),
            Some(json!("NOT-lower")),
        ]),
    )
        .prop_map(|(biz, parent, name, builtin, template, owner)| SetSpec {
            biz,
            parent,
            name,
            builtin,
            template,
            owner,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let sequence_kind = prop::sample::select(SequenceKind::ALL.to_vec());
    let sequence_value = prop_oneof![0i64..40, 90i64..110, 4000i64..4100];
    prop_oneof![
        3 => (
            1i64..=4,
            prop::sample::select(vec!["one", "two", "other"]),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(id, name, archived, idle)| Op::LoadBiz { id, name, archived, idle }),
        1 => (
            prop::sample::select(vec!["set", "module", "audit"]),
            sequence_value.clone(),
        )
            .prop_map(|(kind, value)| Op::LoadIds { kind, value }),
        6 => set_spec().prop_map(Op::Create),
        2 => prop::collection::vec(set_spec(), 0..5).prop_map(Op::Batch),
        1 => (sequence_kind, sequence_value).prop_map(|(kind, value)| Op::Raise { kind, value }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(op(), 1..16),
    )
        .prop_map(|(levels, owner_rule, ops)| Scenario {
            levels,
            owner_rule,
            ops,
        })
}

fn base_fixture(scenario: &Scenario) -> Value {
    let mut fixture = json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}],
        "set_attributes": [
            {"bk_property_id": "owner_team", "bk_property_name": "Owner team",
             "bk_property_type": "singlechar", "option": "^[a-z]*$", "bk_biz_id": 0}
        ],
        "service_templates": [
            {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2},
            {"id": 8, "bk_biz_id": 1, "name": "php", "service_category_id": 3}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7]},
            {"id": 2, "bk_biz_id": 1, "name": "full", "version": 1, "service_template_ids": [8, 7],
             "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 10}]}
        ]
    });
    if scenario.levels {
        fixture["mainline"] = json!(["province"]);
        fixture["mainline_instances"] = json!([
            {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1},
            {"bk_obj_id": "province", "bk_inst_id": 51, "bk_inst_name": "gx", "bk_biz_id": 1, "bk_parent_id": 1}
        ]);
    }
    if scenario.owner_rule {
        fixture["set_unique_rules"] = json!([["bk_biz_id", "owner_team"]]);
    }
    fixture
}

/// What an operation gave, comparable across stores. A store failure is compared by its
/// code only: its message is the backend's.
#[derive(Debug, PartialEq)]
enum Outcome {
    Loaded(LoadReport),
    Created(Box<CreatedSet>),
    Batch(Vec<CreatedSet>),
    Raised(bool),
    Failed(ErrorView),
    BatchFailed(usize, ErrorView),
}

#[derive(Debug, PartialEq)]
enum ErrorView {
    Domain(Error),
    Store,
}

fn view(error: Error) -> ErrorView {
    match error {
        Error::Store(_) => ErrorView::Store,
        other => ErrorView::Domain(other),
    }
}

async fn apply(store: &dyn SetStore, levels: bool, op: &Op) -> Outcome {
    let ctx = context("0");
    match op {
        Op::LoadBiz {
            id,
            name,
            archived,
            idle,
        } => {
            let fixture = json!({"businesses": [
                {"bk_biz_id": id, "bk_biz_name": name, "archived": archived, "create_idle_set": idle}
            ]});
            load(store, fixture)
                .await
                .map_or_else(|e| Outcome::Failed(view(e)), Outcome::Loaded)
        }
        Op::LoadIds { kind, value } => load(store, json!({"id_generator": {*kind: value}}))
            .await
            .map_or_else(|e| Outcome::Failed(view(e)), Outcome::Loaded),
        Op::Create(spec) => match plan(store, &ctx, spec.biz, spec.data(levels)).await {
            Err(e) => Outcome::Failed(view(e)),
            Ok(p) => match store.create_set(p).await {
                Ok(created) => Outcome::Created(Box::new(created)),
                Err(e) => Outcome::Failed(view(e)),
            },
        },
        Op::Batch(specs) => {
            let mut plans = Vec::with_capacity(specs.len());
            for (index, spec) in specs.iter().enumerate() {
                match plan(store, &ctx, spec.biz, spec.data(levels)).await {
                    Ok(p) => plans.push(p),
                    Err(e) => return Outcome::BatchFailed(index, view(e)),
                }
            }
            match store.create_sets_atomic(plans).await {
                Ok(created) => Outcome::Batch(created),
                Err(failure) => Outcome::BatchFailed(failure.index, view(failure.error)),
            }
        }
        Op::Raise { kind, value } => match store.raise_sequence(*kind, *value).await {
            Ok(changed) => Outcome::Raised(changed),
            Err(_) => Outcome::Failed(ErrorView::Store),
        },
    }
}

/// Runs one scenario on a fresh store of the factory and a fresh model; the first difference.
/// Runs one scenario on a fresh store and on the model; returns how many sets it created
/// (lone creates and atomic batches), or how the store differed.
async fn run_scenario<F: StoreFactory>(factory: &F, scenario: &Scenario) -> Result<usize, String> {
    let (store, _guard) = factory.open_fresh().await;
    let model = MemoryStore::new();
    let base = base_fixture(scenario);
    let got = load(&*store, base.clone()).await;
    let want = load(&model, base).await;
    if got != want {
        return Err(format!("base fixture: store {got:?}, model {want:?}"));
    }
    let mut created = 0;
    for (i, op) in scenario.ops.iter().enumerate() {
        let got = apply(&*store, scenario.levels, op).await;
        let want = apply(&model, scenario.levels, op).await;
        if got != want {
            return Err(format!("op {i} {op:?}:\n  store {got:?}\n  model {want:?}"));
        }
        created += match &got {
            Outcome::Created(_) => 1,
            Outcome::Batch(sets) => sets.len(),
            _ => 0,
        };
        let (got, want) = (sequences(&*store).await, sequences(&model).await);
        if got != want {
            return Err(format!(
                "after op {i} {op:?}: sequences store {got:?}, model {want:?}"
            ));
        }
    }
    let got = snapshot(&*store, &["0"], &BIZZES).await;
    let want = snapshot(&model, &["0"], &BIZZES).await;
    if got != want {
        return Err(format!(
            "final state differs:\n  store {got:?}\n  model {want:?}"
        ));
    }
    Ok(created)
}

/// Random scenarios (64, each up to 15 operations after a random base catalog) give the same
/// outcome per operation (created records, load reports, error codes and messages, batch
/// failure indexes), the same sequences after each operation, and the same final state as the
/// [`MemoryStore`] model. A failing scenario is shrunk before it is reported. The scenarios must
/// reach stored sets, not only refusals: at least one per two scenarios is created in all.
pub async fn differential_against_memory_model<F: StoreFactory>(factory: &F) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = scenario();
    let mut created = 0;
    for _ in 0..CASES {
        let mut tree = strategy
            .new_tree(&mut runner)
            .expect("the scenario strategy never rejects");
        let first = match run_scenario(factory, &tree.current()).await {
            Ok(sets) => {
                created += sets;
                continue;
            }
            Err(first) => first,
        };
        // Shrink: simplify while it still fails, complicate back when it passes.
        let mut failure = (tree.current(), first);
        let mut last_passed = false;
        for _ in 0..MAX_SHRINK_STEPS {
            let moved = if last_passed {
                tree.complicate()
            } else {
                tree.simplify()
            };
            if !moved {
                break;
            }
            match run_scenario(factory, &tree.current()).await {
                Ok(_) => last_passed = true,
                Err(why) => {
                    last_passed = false;
                    failure = (tree.current(), why);
                }
            }
        }
        let mut message = String::new();
        let _ = writeln!(message, "the store differs from the memory model");
        let _ = writeln!(message, "minimal scenario: {:#?}", failure.0);
        let _ = write!(message, "{}", failure.1);
        panic!("{message}");
    }
    println!("differential: {CASES} scenarios created {created} sets");
    assert!(
        created >= CASES as usize / 2,
        "the scenarios created only {created} sets: they barely exercised the stores"
    );
}
