//! `cmdb-store-conformance`: the behaviour every [`SetStore`] must show, as one shared suite.
//!
//! A behaviour that is not in this suite is not a contract of the store port.
//!
//! # How a store crate runs it
//!
//! 1. Add the crate as a dev-dependency: `cmdb-store-conformance.workspace = true`.
//! 2. Implement [`StoreFactory`] for your store (in the test file, or in your crate behind a
//!    feature): `open_fresh` (async: opening runs off the caller's thread) builds an empty store in a fresh location and returns a guard
//!    that keeps that location alive (e.g. a [`tempfile`-style] temp dir); `reopen` opens the
//!    same location again after the previous handle was closed and dropped, or returns `None`
//!    for a store that keeps nothing (the reopen cases then pass without checking anything).
//! 3. Write `tests/conformance.rs`:
//!
//! ```text
//! //! The shared conformance suite, run against the FooStore.
//! use std::sync::Arc;
//! use cmdb_core::ports::SetStore;
//! use cmdb_store_conformance::StoreFactory;
//!
//! struct FooFactory;
//!
//! impl StoreFactory for FooFactory {
//!     type Guard = tempfile::TempDir;
//!     async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
//!         let dir = tempfile::tempdir().unwrap();
//!         let store = FooStore::open(dir.path().join("db")).await.unwrap();
//!         (Arc::new(store), dir)
//!     }
//!     async fn reopen(&self, dir: &Self::Guard) -> Option<Arc<dyn SetStore>> {
//!         Some(Arc::new(FooStore::open(dir.path().join("db")).await.unwrap()))
//!     }
//! }
//!
//! cmdb_store_conformance::store_conformance_tests!(FooFactory);
//! ```
//!
//! The macro expands, at the place it is invoked, to one `#[test]` function per case, named
//! after the case (see [`cases`]), so a failing case never hides the others and
//! `cargo test -p your-store duplicate_name` runs one case. Each test builds its own tokio
//! multi-thread runtime (4 workers) and evaluates the factory expression once. The store crate
//! needs no tokio dependency of its own. The memory store does exactly this with
//! [`MemoryFactory`]:
//!
//! ```text
//! cmdb_store_conformance::store_conformance_tests!(cmdb_store_conformance::MemoryFactory);
//! ```
//!
//! Every case is also a plain `pub async fn case(factory: &F)` in [`cases`], to run from a
//! custom harness. Cases assert exact error codes, exact stored documents and exact ids, and
//! panic (failing the test) on the first difference.
//!
//! # What it checks
//!
//! - documents: the worked example byte for byte; a create persists exactly its plan and reads
//!   return exactly what the create reported, in id order; idle sets of fixture loads;
//! - uniqueness: names per parent (1101108), custom unique rules (1199014, empty values free),
//!   one built-in set per biz (1199054), each refusal writing nothing and consuming no id;
//! - atomicity: atomic batches, and a write failing part-way (an exhausted sequence);
//! - ids: strictly increasing, gapless, raised never lowered, continued after a reopen;
//! - concurrency: 16 tasks racing on one name, on one unique key, and on distinct names;
//! - group commit: 64 concurrent creates of one name and of distinct names, 64 plans in one
//!   call committing once, each create of a group isolated (a storage failure of its own, a
//!   duplicate of an earlier plan, a second built-in set), the first of two equal names wins;
//! - fixtures: idempotent reloads, conflicting reloads (nothing written), a frozen mainline;
//! - pages: every window of a listing (sets, one set, modules, audit records) is that window
//!   of the full read, with the full count;
//! - the audit log (what watch reads): every committed record once, gapless in id order, from
//!   any id on, none of a refused create of a group;
//! - a differential property test against [`MemoryStore`] as the reference model.
//!
//! The crate's own `tests/catches_broken_stores.rs` checks that stores broken on purpose fail
//! the cases guarding the broken behaviour, so the suite cannot pass vacuously: a table gives
//! every case in [`CASES`] at least one planted flaw that makes it fail (a race window in name
//! uniqueness, a half-committed batch, a reopen that forgets, a reload that writes, …), and a
//! test fails when a case has none.
//!
//! [`tempfile`-style]: https://docs.rs/tempfile
#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_memory::MemoryStore;

pub mod cases;
pub mod support;

/// Builds stores for the suite: a fresh one per case, and the same one again after a close.
pub trait StoreFactory: Send + Sync + 'static {
    /// Keeps a fresh store's location alive (a temp dir); `()` for a store that has none.
    type Guard: Send;

    /// An empty store (no catalog, no sets, every sequence at 0) in a location of its own.
    ///
    /// Panics when the store cannot be opened: the suite cannot run without it.
    fn open_fresh(&self) -> impl Future<Output = (Arc<dyn SetStore>, Self::Guard)> + Send;

    /// Opens the store at `guard`'s location again. The suite calls it only after
    /// [`SetStore::close`] on the previous handle, and after dropping every clone of it.
    /// `None` when the store keeps nothing between opens (the reopen cases then return).
    ///
    /// Panics when the store cannot be opened.
    fn reopen(&self, guard: &Self::Guard)
    -> impl Future<Output = Option<Arc<dyn SetStore>>> + Send;
}

/// Builds [`MemoryStore`]s. Nothing survives a close, so [`StoreFactory::reopen`] is `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

impl StoreFactory for MemoryFactory {
    type Guard = ();

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        (Arc::new(MemoryStore::new()), ())
    }

    async fn reopen(&self, _guard: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        None
    }
}

/// Runs one case to completion on a fresh tokio multi-thread runtime (4 workers, so that
/// concurrent cases really run in parallel even on small machines). Used by
/// [`store_conformance_tests!`].
///
/// # Panics
/// When the runtime cannot be built, or when the case panics.
pub fn run_case(case: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance case")
        .block_on(case);
}

/// The list of conformance cases, handed to `$callback` after its arguments: the one place
/// the cases are listed, for [`store_conformance_tests!`] and [`CASES`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $crate::$callback!($($args)* ;
            worked_example_document,
            create_persists_exactly_the_plan,
            loading_a_business_creates_its_idle_set,
            reads_of_unknown_things_are_empty,
            catalog_reads_follow_their_order,
            duplicate_name_under_same_parent_is_refused,
            same_name_under_other_parent_or_biz_is_accepted,
            custom_unique_rule_is_enforced,
            builtin_set_is_unique_per_biz,
            atomic_batch_is_all_or_nothing,
            failure_mid_write_rolls_back_everything,
            ids_increase_without_gaps,
            raising_a_sequence_never_lowers_it,
            ids_continue_after_reopen,
            concurrent_same_name_has_one_winner,
            concurrent_distinct_names_all_succeed,
            concurrent_unique_key_has_one_winner,
            identical_reload_changes_nothing,
            conflicting_reload_writes_nothing,
            mainline_change_after_businesses_is_refused,
            differential_against_memory_model,
            group_same_name_64_has_one_winner,
            group_distinct_names_64_all_succeed,
            group_submitted_together_commits_once,
            group_isolates_each_create,
            group_same_name_twice_first_wins,
            pages_are_windows_of_the_listing_and_count_it,
            counts_are_the_listing_after_refusals_and_reopen,
            audit_log_is_every_committed_record_in_id_order,
        );
    };
}

/// Expands to one `#[test]` per conformance case, each running the case against stores built
/// by the given [`StoreFactory`] expression (evaluated once per test).
///
/// Use it at the top level (or inside a module) of a store crate's integration test file:
///
/// ```text
/// cmdb_store_conformance::store_conformance_tests!(cmdb_store_conformance::MemoryFactory);
/// ```
///
/// A store that needs an outside server gates each case on an expression evaluated first
/// (an `Option` of why to skip; the case prints the reason and passes when it is `Some`):
///
/// ```text
/// cmdb_store_conformance::store_conformance_tests!(skip_if: server_missing(), PgFactory);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (skip_if: $skip:expr, $factory:expr) => {
        $crate::__conformance_cases!(store_conformance_tests!(@gated $skip, $factory));
    };
    (@gated $skip:expr, $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if let Some(reason) = $skip {
                    println!("skipped {}: {reason}", stringify!($case));
                    return;
                }
                $crate::run_case(async {
                    let factory = $factory;
                    $crate::cases::$case(&factory).await;
                });
            }
        )*
    };
    ($factory:expr) => {
        $crate::__conformance_cases!(store_conformance_tests!(@cases $factory));
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(async {
                    let factory = $factory;
                    $crate::cases::$case(&factory).await;
                });
            }
        )*
    };
}

/// Defines [`CASES`] and [`run_named`] from the case list.
#[doc(hidden)]
#[macro_export]
macro_rules! __case_index {
    (; $($case:ident),* $(,)?) => {
        /// The name of every conformance case, in the order [`store_conformance_tests!`]
        /// expands them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Runs the case named `name` against `factory` (for harnesses that pick cases at
        /// run time, such as the broken-store table).
        ///
        /// # Panics
        /// When the case fails, or when no case has that name.
        pub async fn run_named<F: StoreFactory>(name: &str, factory: &F) {
            match name {
                $(stringify!($case) => cases::$case(factory).await,)*
                other => panic!("no conformance case is named {other}"),
            }
        }
    };
}

__conformance_cases!(__case_index!());
