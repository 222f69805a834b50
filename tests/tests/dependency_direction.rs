//! Crates depend on each other only in the directions ARCHITECTURE.md allows.
//!
//! Reads the crate table of the repository's ARCHITECTURE.md ("may depend on" column) and the
//! real dependency graph from `cargo metadata`, and fails on any edge the table does not allow
//! or any workspace crate the table does not list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn allowed_edges(arch: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut map = BTreeMap::new();
    for line in arch.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | folder | crate | owns | may depend on |  -> ["", folder, crate, owns, deps, ""]
        if cells.len() < 6 || !cells[2].starts_with("kiln-") {
            continue;
        }
        let deps: BTreeSet<String> = cells[4]
            .split(',')
            .map(str::trim)
            .filter(|d| d.starts_with("kiln-"))
            .map(String::from)
            .collect();
        map.insert(cells[2].to_string(), deps);
    }
    map
}

#[test]
fn workspace_dependencies_follow_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let allowed = allowed_edges(&arch);
    assert!(
        allowed.contains_key("kiln-core"),
        "the crate table was not found in ARCHITECTURE.md"
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();

    let mut violations = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        let Some(ok) = allowed.get(name) else {
            violations.push(format!("{name} is not in the ARCHITECTURE.md crate table"));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            let is_dev = d["kind"].as_str() == Some("dev");
            if members.contains(dep) && !ok.contains(dep) && !(is_dev && dep == name) {
                violations.push(format!(
                    "{name} depends on {dep}, which ARCHITECTURE.md does not allow"
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency direction violated:\n{}",
        violations.join("\n")
    );
}

#[test]
fn table_parser_reads_rows() {
    let t = "| a | kiln-x | stuff | kiln-core, kiln-y |\n| b | kiln-core | ir | (none) |";
    let m = allowed_edges(t);
    assert_eq!(m["kiln-x"].len(), 2);
    assert!(m["kiln-core"].is_empty());
}
