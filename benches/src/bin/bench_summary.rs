//! Prints the medians of the last criterion run as a markdown table, with the engine/floor
//! ratio of every `create_set/<store>` group and each scaling case against the empty store.
//!
//! ```sh
//! cargo run --release -p cmdb-benches --bin bench-summary [target/criterion]
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One benchmark's result.
struct Row {
    group: String,
    function: String,
    value: Option<String>,
    median_ns: f64,
    elements: Option<f64>,
}

impl Row {
    fn id(&self) -> String {
        match &self.value {
            Some(v) if v != &self.function => format!("{}/{}/{}", self.group, self.function, v),
            _ => format!("{}/{}", self.group, self.function),
        }
    }
}

/// Finds every `new/benchmark.json` under `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                let file = path.join("benchmark.json");
                if file.is_file() {
                    out.push(file);
                }
            } else {
                collect(&path, out);
            }
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn read_row(benchmark: &Path) -> Option<Row> {
    let meta = read_json(benchmark)?;
    let estimates = read_json(&benchmark.with_file_name("estimates.json"))?;
    Some(Row {
        group: meta["group_id"].as_str()?.to_owned(),
        function: meta["function_id"]
            .as_str()
            .or(meta["value_str"].as_str())
            .unwrap_or_default()
            .to_owned(),
        value: meta["value_str"].as_str().map(str::to_owned),
        median_ns: estimates["median"]["point_estimate"].as_f64()?,
        elements: meta["throughput"]["Elements"].as_f64(),
    })
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut rows: Vec<Row> = files.iter().filter_map(|f| read_row(f)).collect();
    if rows.is_empty() {
        eprintln!("no criterion results under {}", root.display());
        std::process::exit(1);
    }
    rows.sort_by_key(Row::id);
    let median: BTreeMap<String, f64> = rows.iter().map(|r| (r.id(), r.median_ns)).collect();

    println!("| benchmark | median | throughput |");
    println!("|---|---:|---:|");
    for r in &rows {
        let throughput = r
            .elements
            .map(|n| format!("{:.0} sets/s", n / (r.median_ns / 1e9)))
            .unwrap_or_default();
        println!("| `{}` | {} | {} |", r.id(), human(r.median_ns), throughput);
    }

    println!();
    println!("| ratio | value |");
    println!("|---|---:|");
    for r in rows.iter().filter(|r| r.function == "engine") {
        if let Some(floor) = median.get(&format!("{}/floor", r.group)) {
            println!(
                "| `{}` engine / floor | {:.2}× |",
                r.group,
                r.median_ns / floor
            );
        }
    }
    for r in rows
        .iter()
        .filter(|r| r.group.starts_with("scaling/") && r.function != "0")
    {
        if let Some(empty) = median.get(&format!("{}/0", r.group)) {
            println!(
                "| `{}` {} / 0 stored | {:.2}× |",
                r.group,
                r.function,
                r.median_ns / empty
            );
        }
    }
}
