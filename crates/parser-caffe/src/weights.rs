//! Reading a `.caffemodel` (binary `caffe.NetParameter`): the blobs of every layer by name,
//! and, when the file does not decode, which layer it breaks in.

use crate::pb;
use prost::Message;
use std::collections::HashMap;

/// Blobs by layer name.
pub(crate) type Weights = HashMap<String, Vec<pb::BlobProto>>;

/// Decode a caffemodel into blobs by layer name (the first layer of a name wins).
pub(crate) fn decode(bytes: &[u8]) -> Result<Weights, String> {
    let net = match pb::NetParameter::decode(bytes) {
        Ok(n) => n,
        Err(e) => return Err(explain(bytes, &e.to_string())),
    };
    let mut out = Weights::new();
    for l in &net.layers {
        out.entry(l.name().to_string())
            .or_insert_with(|| l.blobs.clone());
    }
    for l in &net.layer {
        out.entry(l.name().to_string())
            .or_insert_with(|| l.blobs.clone());
    }
    tracing::debug!(layers = out.len(), "decoded caffemodel");
    Ok(out)
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The name of a (possibly partial) layer message: field 1 (`layer`) or 4 (`layers`).
fn partial_name(b: &[u8], name_field: u64) -> Option<String> {
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(b, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = usize::try_from(varint(b, &mut pos)?).ok()?;
                if field == name_field {
                    let end = pos.checked_add(len)?;
                    return b
                        .get(pos..end)
                        .map(|s| String::from_utf8_lossy(s).into_owned());
                }
                pos = pos.checked_add(len)?;
            }
            _ => return None,
        }
    }
    None
}

/// Walk the top-level fields to say which layer the decoding failed in.
fn explain(b: &[u8], message: &str) -> String {
    let mut pos = 0;
    let mut count = 0usize;
    while pos < b.len() {
        let start = pos;
        let Some(key) = varint(b, &mut pos) else {
            break;
        };
        let (field, wire) = (key >> 3, key & 7);
        let len = match wire {
            0 => {
                if varint(b, &mut pos).is_none() {
                    break;
                }
                continue;
            }
            1 => 8,
            5 => 4,
            2 => match varint(b, &mut pos).and_then(|l| usize::try_from(l).ok()) {
                Some(l) => l,
                None => break,
            },
            _ => break,
        };
        let is_layer = wire == 2 && (field == 100 || field == 2);
        if is_layer {
            count += 1;
        }
        let end = pos.saturating_add(len);
        if end > b.len() || (is_layer && pb::LayerParameter::decode(&b[pos..end]).is_err()) {
            if !is_layer {
                break;
            }
            let body = &b[pos..end.min(b.len())];
            let name = partial_name(body, if field == 100 { 1 } else { 4 })
                .unwrap_or_else(|| "?".to_string());
            let what = if end > b.len() {
                format!(
                    "the file ends inside layer '{name}' (layer #{count}, starting at byte \
                     {start}, needs {} more byte(s)); the file is truncated",
                    end - b.len()
                )
            } else {
                format!("layer '{name}' (layer #{count}) is corrupt")
            };
            return format!("{what} ({message})");
        }
        pos = end;
    }
    format!("{message} (after {count} complete layer(s))")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_names_the_layer() {
        let net = pb::NetParameter {
            layer: vec![
                pb::LayerParameter {
                    name: Some("first".into()),
                    ..Default::default()
                },
                pb::LayerParameter {
                    name: Some("conv9".into()),
                    blobs: vec![pb::BlobProto {
                        data: vec![1.0; 100],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let bytes = net.encode_to_vec();
        assert_eq!(decode(&bytes).unwrap()["conv9"][0].data.len(), 100);
        let err = decode(&bytes[..bytes.len() - 10]).unwrap_err();
        assert!(
            err.contains("'conv9'") && err.contains("truncated"),
            "{err}"
        );
    }
}
