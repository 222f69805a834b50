//! The plan file: `KILNPLAN` magic, format version, header (prost message from
//! `proto/plan.proto`), 64-byte aligned weights, CRC32.

mod decode;
mod encode;

pub(crate) use decode::{decode_engine, decode_engine_with_plugins, decode_graph};
pub(crate) use encode::encode_engine;

use crate::EngineError;
use prost::Message;

/// The generated header types of `proto/plan.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/kiln.plan.rs"));
}

/// First 8 bytes of every plan file.
pub const MAGIC: &[u8; 8] = b"KILNPLAN";
/// Format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of the weights section and of each tensor in it.
pub const WEIGHT_ALIGN: usize = 64;
/// Bytes before the header: magic, version, header length.
const PREAMBLE: usize = 8 + 4 + 8;

/// True when `bytes` start with the plan magic.
pub fn is_plan(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn align_up(n: usize) -> usize {
    n.div_ceil(WEIGHT_ALIGN) * WEIGHT_ALIGN
}

/// Assemble a plan file from a header and its weights section.
pub fn write_container(header: &proto::PlanHeader, weights: &[u8]) -> Vec<u8> {
    let mut header = header.clone();
    header.weights_length = weights.len() as u64;
    let hb = header.encode_to_vec();
    let start = align_up(PREAMBLE + hb.len());
    let mut out = Vec::with_capacity(start + weights.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(hb.len() as u64).to_le_bytes());
    out.extend_from_slice(&hb);
    out.resize(start, 0);
    out.extend_from_slice(weights);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Check a plan file's framing and checksum; return its header and weights section.
pub fn read_container(bytes: &[u8]) -> Result<(proto::PlanHeader, &[u8]), EngineError> {
    let actual = bytes.len() as u64;
    if bytes.len() < MAGIC.len() {
        if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            return Err(EngineError::Truncated {
                expected: PREAMBLE as u64,
                actual,
            });
        }
        return Err(EngineError::NotAPlan(bytes.to_vec()));
    }
    if !is_plan(bytes) {
        return Err(EngineError::NotAPlan(bytes[..MAGIC.len()].to_vec()));
    }
    let (Some(ver), Some(hlen)) = (bytes.get(8..12), bytes.get(12..20)) else {
        return Err(EngineError::Truncated {
            expected: PREAMBLE as u64,
            actual,
        });
    };
    let version = u32::from_le_bytes(ver.try_into().map_err(|_| short(actual))?);
    if version != FORMAT_VERSION {
        return Err(EngineError::Version {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let hlen = u64::from_le_bytes(hlen.try_into().map_err(|_| short(actual))?);
    let header_end = (PREAMBLE as u64).saturating_add(hlen);
    if header_end.saturating_add(4) > actual {
        return Err(EngineError::Truncated {
            expected: header_end.saturating_add(4),
            actual,
        });
    }
    let header_end = header_end as usize;
    let crc_ok = |body_end: usize| -> bool {
        match (bytes.get(..body_end), bytes.get(body_end..body_end + 4)) {
            (Some(body), Some(c)) => c
                .try_into()
                .map(|c: [u8; 4]| u32::from_le_bytes(c) == crc32fast::hash(body))
                .unwrap_or(false),
            _ => false,
        }
    };
    let header = match proto::PlanHeader::decode(&bytes[PREAMBLE..header_end]) {
        Ok(h) => h,
        Err(e) => {
            if !crc_ok(bytes.len() - 4) {
                return Err(EngineError::Corrupted("checksum mismatch".into()));
            }
            return Err(EngineError::Header(e.to_string()));
        }
    };
    let start = align_up(header_end) as u64;
    let expected = start
        .checked_add(header.weights_length)
        .and_then(|x| x.checked_add(4))
        .ok_or_else(|| EngineError::Corrupted("weights length overflows".into()))?;
    if actual < expected {
        return Err(EngineError::Truncated { expected, actual });
    }
    if actual > expected {
        return Err(EngineError::Corrupted(format!(
            "{} unexpected bytes after the checksum (expected {expected} bytes, got {actual})",
            actual - expected
        )));
    }
    let body_end = (expected - 4) as usize;
    if !crc_ok(body_end) {
        return Err(EngineError::Corrupted(
            "checksum mismatch (the file was modified or damaged)".into(),
        ));
    }
    Ok((header, &bytes[start as usize..body_end]))
}

fn short(actual: u64) -> EngineError {
    EngineError::Truncated {
        expected: PREAMBLE as u64,
        actual,
    }
}
