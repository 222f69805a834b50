//! The timing cache: best tactic and its time per (target, layer signature, input shapes,
//! precision), kept in a JSON file shareable between builds and machines of one target.

use crate::EngineError;
use kiln_core::{Attribute, Node, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Format version of the cache file.
pub const TIMING_CACHE_VERSION: u32 = 1;

/// What a timing is valid for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CacheKey {
    /// Target fingerprint (`cpu/x86_64+avx2+fma`).
    pub target: String,
    /// Layer signature: op type and a digest of its attributes.
    pub signature: String,
    /// Input types and shapes (`f32[1,3,224,224];f32[64,3,7,7]`).
    pub shapes: String,
    /// Precision (`fp32`).
    pub precision: String,
}

/// The best tactic found for a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// What it is valid for.
    #[serde(flatten)]
    pub key: CacheKey,
    /// The fastest tactic.
    pub tactic: String,
    /// Its time in microseconds.
    pub time_us: f64,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<CacheEntry>,
}

/// An in-memory timing cache.
#[derive(Clone, Debug, Default)]
pub struct TimingCache {
    entries: BTreeMap<CacheKey, CacheEntry>,
}

impl TimingCache {
    /// Read a cache file; a file that does not exist yet is an empty cache.
    pub fn load(path: &Path) -> Result<TimingCache, EngineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TimingCache::default()),
            Err(e) => {
                return Err(EngineError::Io {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        };
        let file: CacheFile =
            serde_json::from_str(&text).map_err(|e| EngineError::TimingCache {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if file.version != TIMING_CACHE_VERSION {
            return Err(EngineError::TimingCache {
                path: path.to_path_buf(),
                message: format!(
                    "format version {} is not supported (expected {TIMING_CACHE_VERSION})",
                    file.version
                ),
            });
        }
        Ok(TimingCache {
            entries: file
                .entries
                .into_iter()
                .map(|e| (e.key.clone(), e))
                .collect(),
        })
    }

    /// Write the cache file (entries sorted, pretty JSON).
    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        let file = CacheFile {
            version: TIMING_CACHE_VERSION,
            entries: self.entries.values().cloned().collect(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| EngineError::TimingCache {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|e| EngineError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }

    /// The entry of `key`.
    pub fn get(&self, key: &CacheKey) -> Option<&CacheEntry> {
        self.entries.get(key)
    }

    /// Record the best tactic of `key`.
    pub fn insert(&mut self, key: CacheKey, tactic: String, time_us: f64) {
        self.entries.insert(
            key.clone(),
            CacheEntry {
                key,
                tactic,
                time_us,
            },
        );
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = &CacheEntry> {
        self.entries.values()
    }
}

/// The layer signature of a node: domain, op type and a CRC32 digest of its attributes.
pub fn layer_signature(node: &Node) -> String {
    let mut h = crc32fast::Hasher::new();
    for (name, attr) in &node.attrs.0 {
        h.update(name.as_bytes());
        h.update(b"=");
        digest_attr(&mut h, attr);
        h.update(b";");
    }
    let dom = if node.domain.is_empty() {
        String::new()
    } else {
        format!("{}::", node.domain)
    };
    format!("{dom}{}#{:08x}", node.op_type(), h.finalize())
}

fn digest_attr(h: &mut crc32fast::Hasher, attr: &Attribute) {
    h.update(attr.kind().as_bytes());
    match attr {
        Attribute::Float(f) => h.update(&f.to_le_bytes()),
        Attribute::Int(i) => h.update(&i.to_le_bytes()),
        Attribute::String(s) => h.update(s.as_bytes()),
        Attribute::Tensor(t) => digest_tensor(h, t),
        Attribute::Floats(v) => v.iter().for_each(|f| h.update(&f.to_le_bytes())),
        Attribute::Ints(v) => v.iter().for_each(|i| h.update(&i.to_le_bytes())),
        Attribute::Strings(v) => v.iter().for_each(|s| {
            h.update(s.as_bytes());
            h.update(&[0]);
        }),
        Attribute::Tensors(v) => v.iter().for_each(|t| digest_tensor(h, t)),
        // Layers with subgraphs only have the reference tactic: never timed.
        Attribute::Graph(g) => h.update(g.name.as_bytes()),
        Attribute::Graphs(v) => v.iter().for_each(|g| h.update(g.name.as_bytes())),
    }
}

fn digest_tensor(h: &mut crc32fast::Hasher, t: &Tensor) {
    h.update(t.dtype().name().as_bytes());
    for d in t.shape() {
        h.update(&(*d as u64).to_le_bytes());
    }
    match t {
        Tensor::String(a) => a.iter().for_each(|s| h.update(s.as_bytes())),
        _ => {
            if let Ok(b) = t.to_le_bytes() {
                h.update(&b);
            }
        }
    }
}
