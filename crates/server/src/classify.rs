//! The classification extension: replace an output by its top-k classes as
//! `"value:index"` or `"value:index:label"` strings (BYTES), per batch row.

use crate::error::{Result, ServerError};
use crate::tensor::{Datatype, InferTensor, TensorData, element_count};

/// Top `k` classes of each row of `t` (rows: the batch dimension when `batched`).
pub fn classify(
    t: &InferTensor,
    k: usize,
    batched: bool,
    labels: Option<&[String]>,
) -> Result<InferTensor> {
    let values = t.to_kiln().and_then(|k| {
        k.to_f64_vec().map_err(|e| {
            ServerError::InvalidArg(format!("cannot classify output '{}': {e}", t.name))
        })
    })?;
    let rows = if batched {
        t.shape.first().copied().unwrap_or(1).max(1) as usize
    } else {
        1
    };
    let per_row = if batched {
        element_count(t.shape.get(1..).unwrap_or(&[])).unwrap_or(0)
    } else {
        values.len()
    };
    let k = k.min(per_row);
    let mut items = Vec::with_capacity(rows * k);
    for r in 0..rows {
        let row = &values[r * per_row..(r + 1) * per_row];
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        for &i in idx.iter().take(k) {
            let s = match labels.and_then(|l| l.get(i)) {
                Some(label) => format!("{:.6}:{i}:{label}", row[i]),
                None => format!("{:.6}:{i}", row[i]),
            };
            items.push(s.into_bytes());
        }
    }
    let shape = if batched {
        vec![rows as i64, k as i64]
    } else {
        vec![k as i64]
    };
    Ok(InferTensor {
        name: t.name.clone(),
        datatype: Datatype::Bytes,
        shape,
        data: TensorData::Bytes(items),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_per_row_with_labels() {
        let v: Vec<u8> = [0.1f32, 0.7, 0.2, 0.5, 0.4, 0.1]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = InferTensor::from_raw("p", Datatype::Fp32, vec![2, 3], v).unwrap();
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let c = classify(&t, 2, true, Some(&labels)).unwrap();
        assert_eq!(c.shape, vec![2, 2]);
        let TensorData::Bytes(items) = c.data else {
            panic!("not bytes")
        };
        let s: Vec<String> = items
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(s[0], "0.700000:1:b");
        assert_eq!(s[1], "0.200000:2:c");
        assert_eq!(s[2], "0.500000:0:a");
    }
}
