//! The conformance cases, one `pub async fn` per behaviour, each taking the store factory.
//!
//! Every case opens its own fresh store(s), so cases are independent and may run in any order.

mod create;

pub use create::{
    catalog_reads_follow_their_order, create_persists_exactly_the_plan,
    loading_a_business_creates_its_idle_set, reads_of_unknown_things_are_empty,
    worked_example_document,
};
