//! A cheap estimate of how many bytes a plan's documents take, for the group byte cap.

use cmdb_core::plan::CreatePlan;
use serde_json::Value;

/// Roughly the JSON size of the documents a plan writes (set, modules, and the audit records
/// that copy them): enough to cap a group's memory, not an exact count.
pub fn approx_plan_bytes(plan: &CreatePlan) -> usize {
    let set: usize = plan
        .set_doc
        .iter()
        .map(|(k, v)| k.len() + value_bytes(v) + 4)
        .sum();
    let modules: usize = plan
        .module_docs
        .iter()
        .flat_map(|d| d.iter())
        .map(|(k, v)| k.len() + value_bytes(v) + 4)
        .sum();
    // Each document is written once as itself and once inside its audit record.
    2 * (set + modules) + 512 * (1 + plan.module_docs.len())
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 20,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| value_bytes(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + value_bytes(v) + 4)
                .sum::<usize>()
        }
    }
}
