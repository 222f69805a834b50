//! Version directories and version policies.

use super::RepositoryError;
use crate::config::{ModelVersionPolicy, VersionPolicyChoice};
use std::path::Path;

/// The numeric subdirectories of a model directory (its versions), ascending. Names that
/// are not plain decimal numbers (or overflow u64) are not versions and are skipped.
pub fn available_versions(model_dir: &Path) -> Result<Vec<u64>, RepositoryError> {
    let mut versions = Vec::new();
    let dir = std::fs::read_dir(model_dir).map_err(|e| RepositoryError::io(model_dir, e))?;
    for item in dir {
        let item = item.map_err(|e| RepositoryError::io(model_dir, e))?;
        let Some(name) = item.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) || !item.path().is_dir() {
            continue;
        }
        if let Ok(v) = name.parse::<u64>() {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    versions.dedup();
    Ok(versions)
}

/// The versions to serve, ascending, from the `available` ones under `policy`:
/// `latest { num_versions: N }` the N highest (N = 0 counts as 1; no policy = latest 1),
/// `all { }` all of them, `specific { versions: [...] }` those listed that are available
/// (listed versions without a directory are left out).
pub fn resolve_versions(policy: Option<&ModelVersionPolicy>, available: &[u64]) -> Vec<u64> {
    let mut sorted = available.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    match policy.and_then(|p| p.policy_choice.as_ref()) {
        None => latest(&sorted, 1),
        Some(VersionPolicyChoice::Latest(l)) => latest(&sorted, l.num_versions.max(1) as usize),
        Some(VersionPolicyChoice::All(_)) => sorted,
        Some(VersionPolicyChoice::Specific(s)) => sorted
            .into_iter()
            .filter(|v| {
                s.versions
                    .iter()
                    .any(|&w| u64::try_from(w).ok() == Some(*v))
            })
            .collect(),
    }
}

fn latest(sorted: &[u64], n: usize) -> Vec<u64> {
    sorted[sorted.len().saturating_sub(n)..].to_vec()
}
