//! The conformance cases, one `pub async fn` per behaviour, each taking the store factory.
//!
//! Every case opens its own fresh store(s), so cases are independent and may run in any order.
//! The list of cases is the one [`crate::store_conformance_tests!`] expands to.

mod atomicity;
mod audit_log;
mod concurrency;
mod counts;
mod create;
mod differential;
mod fixtures;
mod group;
mod ids;
mod pages;
mod uniqueness;

pub use atomicity::{atomic_batch_is_all_or_nothing, failure_mid_write_rolls_back_everything};
pub use audit_log::audit_log_is_every_committed_record_in_id_order;
pub use concurrency::{
    concurrent_distinct_names_all_succeed, concurrent_same_name_has_one_winner,
    concurrent_unique_key_has_one_winner,
};
pub use counts::counts_are_the_listing_after_refusals_and_reopen;
pub use create::{
    catalog_reads_follow_their_order, create_persists_exactly_the_plan,
    loading_a_business_creates_its_idle_set, reads_of_unknown_things_are_empty,
    worked_example_document,
};
pub use differential::differential_against_memory_model;
pub use fixtures::{
    conflicting_reload_writes_nothing, identical_reload_changes_nothing,
    mainline_change_after_businesses_is_refused,
};
pub use group::{
    group_distinct_names_64_all_succeed, group_isolates_each_create,
    group_same_name_64_has_one_winner, group_same_name_twice_first_wins,
    group_submitted_together_commits_once,
};
pub use ids::{
    ids_continue_after_reopen, ids_increase_without_gaps, raising_a_sequence_never_lowers_it,
};
pub use pages::pages_are_windows_of_the_listing_and_count_it;
pub use uniqueness::{
    builtin_set_is_unique_per_biz, custom_unique_rule_is_enforced,
    duplicate_name_under_same_parent_is_refused, same_name_under_other_parent_or_biz_is_accepted,
};
