//! Tidiness of the repository, checked in the default `cargo test`: every Rust file opens with
//! a `//!` line saying what it is; no file under `crates/*/src` is over [`MAX_SOURCE_LINES`]
//! lines (split it by job); no build, store or mutation-testing output is tracked.
//!
//! The files are the ones `git ls-files` lists (tracked or staged). Without git (a source
//! tarball) the tree is walked instead, skipping `target/` and `.git/`, and the check of
//! tracked output is skipped with a printed line, since nothing there is tracked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The longest a file under `crates/*/src` may be.
const MAX_SOURCE_LINES: usize = 700;

/// The repository root (this package is `tests/`, one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits in the repository")
        .to_path_buf()
}

/// The repository's files as `/`-separated paths relative to the root, and whether they are
/// git's tracked files (`true`) or a walk of the tree (`false`).
fn files() -> (Vec<String>, bool) {
    let root = root();
    let listed = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .output();
    match listed {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).expect("git ls-files prints UTF-8 paths");
            let paths = text
                .split('\0')
                .filter(|p| !p.is_empty())
                // A file deleted but not yet staged is still listed; it is not in the tree.
                .filter(|p| root.join(p).exists())
                .map(str::to_owned)
                .collect();
            (paths, true)
        }
        _ => {
            println!("tidy: git ls-files failed here; walking the tree instead");
            let mut paths = Vec::new();
            walk(&root, &root, &mut paths);
            (paths, false)
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                walk(root, &path, out);
            }
        } else if let Ok(rel) = path.strip_prefix(root) {
            let parts: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
            out.push(parts.join("/"));
        }
    }
}

/// Fails listing every offender, one a line.
fn fail_on(offenders: &[String], what: &str) {
    assert!(
        offenders.is_empty(),
        "{what} ({}):\n  {}",
        offenders.len(),
        offenders.join("\n  ")
    );
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let (files, _) = files();
    let root = root();
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| p.ends_with(".rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(root.join(p)).unwrap_or_default();
            !text.lines().next().is_some_and(|l| l.starts_with("//!"))
        })
        .cloned()
        .collect();
    fail_on(
        &offenders,
        "Rust files whose first line is not a `//!` line",
    );
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let (files, _) = files();
    let root = root();
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| under_crate_src(p))
        .filter_map(|p| {
            let bytes = std::fs::read(root.join(p)).ok()?;
            let lines = bytes.split(|b| *b == b'\n').count() - usize::from(bytes.ends_with(b"\n"));
            (lines > MAX_SOURCE_LINES).then(|| format!("{p}: {lines} lines"))
        })
        .collect();
    fail_on(
        &offenders,
        &format!("files under crates/*/src over {MAX_SOURCE_LINES} lines"),
    );
}

#[test]
fn no_build_store_or_mutation_output_is_tracked() {
    let (files, tracked) = files();
    if !tracked {
        println!("tidy: no git here, so nothing is tracked; skipping the tracked-output check");
        return;
    }
    let offenders: Vec<String> = files.into_iter().filter(|p| is_output(p)).collect();
    fail_on(
        &offenders,
        "tracked build, store or mutation-testing output (untrack it: git rm -r --cached)",
    );
}

/// Whether `path` is `crates/<name>/src/…`.
fn under_crate_src(path: &str) -> bool {
    let mut parts = path.split('/');
    parts.next() == Some("crates") && parts.next().is_some() && parts.next() == Some("src")
}

/// Whether `path` is build output (`target/`), cargo-mutants output (`mutants.out*/`) or a
/// store left by a run (`*.sqlite`, `*.sqlite-wal`, `*.sqlite-shm`, `*.redb`, `*.sled/`).
fn is_output(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let (file, dirs) = parts.split_last().expect("split yields at least one part");
    let output_dir =
        |d: &&str| *d == "target" || d.starts_with("mutants.out") || d.ends_with(".sled");
    dirs.iter().any(output_dir)
        || [".sqlite", ".sqlite-wal", ".sqlite-shm", ".redb"]
            .iter()
            .any(|ext| file.ends_with(ext))
}

#[test]
fn the_output_patterns_match_what_they_name() {
    for p in [
        "target/debug/x",
        "tests/fuzz/target/a",
        "mutants.out/caught.txt",
        "mutants.out.old/log/x.log",
        "cmdb.sqlite",
        "a/cmdb.sqlite-wal",
        "cmdb.sqlite-shm",
        "x.redb",
        "cmdb.sled/conf",
    ] {
        assert!(is_output(p), "{p} is output");
    }
    for p in [
        "crates/cmdb-store-sqlite/src/tx.rs",
        "tests/fuzz/fuzz_targets/create_set.rs",
        "scripts/mutants",
        ".cargo/mutants.toml",
        "crates/cmdb-store-redb/src/lib.rs",
        "crates/cmdb-store-sled/src/store.rs",
    ] {
        assert!(!is_output(p), "{p} is not output");
    }
    assert!(under_crate_src("crates/cmdb-app/src/engine.rs"));
    assert!(under_crate_src("crates/cmdb-app/src/engine/esb.rs"));
    assert!(!under_crate_src("crates/cmdb-app/tests/interop.rs"));
    assert!(!under_crate_src("tests/e2e/main.rs"));
}
