//! Blobs: `BlobProto` to tensors, and the checks of stored weights against the shapes a
//! layer expects.

use crate::pb;
use kiln_core::Tensor;

/// The stored shape of a blob: `shape` when present, else the legacy 4-D fields.
pub(crate) fn blob_shape(b: &pb::BlobProto) -> Result<(Vec<usize>, bool), String> {
    let (dims, legacy): (Vec<i64>, bool) = match &b.shape {
        Some(s) => (s.dim.clone(), false),
        None => (
            vec![
                b.num().into(),
                b.channels().into(),
                b.height().into(),
                b.width().into(),
            ],
            true,
        ),
    };
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension in {dims:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dims, legacy))
}

/// The values of a blob as f32 (`data`, or `double_data` rounded to f32).
fn blob_values(b: &pb::BlobProto) -> Vec<f32> {
    if b.data.is_empty() && !b.double_data.is_empty() {
        b.double_data.iter().map(|&x| x as f32).collect()
    } else {
        b.data.clone()
    }
}

/// Legacy shapes compare as 4-D: `expected` padded with leading 1s.
fn legacy_matches(stored: &[usize], expected: &[usize]) -> bool {
    if expected.len() > 4 {
        return false;
    }
    let mut padded = vec![1usize; 4 - expected.len()];
    padded.extend_from_slice(expected);
    stored == padded.as_slice()
}

/// The blob as a tensor of shape `expected`, or why it does not fit.
pub(crate) fn blob_tensor(b: &pb::BlobProto, expected: &[usize]) -> Result<Tensor, String> {
    let (stored, legacy) = blob_shape(b)?;
    let fits = stored == expected || (legacy && legacy_matches(&stored, expected));
    if !fits {
        return Err(format!(
            "has shape {stored:?}, expected {expected:?} from the layer's parameters and \
             input shape"
        ));
    }
    let values = blob_values(b);
    let want: usize = expected.iter().product();
    if values.len() != want {
        return Err(format!(
            "has {} values for shape {expected:?} ({want} values)",
            values.len()
        ));
    }
    Tensor::from_vec(expected, values).map_err(|e| e.to_string())
}
