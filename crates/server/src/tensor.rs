//! Tensors as the wire protocols carry them: a KServe datatype name, a shape and either raw
//! little-endian bytes or (for `BYTES`) a list of byte strings; conversion to and from
//! kiln-core tensors; concatenation along the batch dimension and splitting back.

use crate::error::{Result, ServerError};
use kiln_core::{DataType, Tensor};

/// A KServe v2 tensor datatype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Datatype {
    /// `BOOL`
    Bool,
    /// `UINT8`
    Uint8,
    /// `UINT16`
    Uint16,
    /// `UINT32`
    Uint32,
    /// `UINT64`
    Uint64,
    /// `INT8`
    Int8,
    /// `INT16`
    Int16,
    /// `INT32`
    Int32,
    /// `INT64`
    Int64,
    /// `FP16`
    Fp16,
    /// `FP32`
    Fp32,
    /// `FP64`
    Fp64,
    /// `BF16`
    Bf16,
    /// `BYTES` (variable-length byte strings)
    Bytes,
}

const ALL: [Datatype; 14] = [
    Datatype::Bool,
    Datatype::Uint8,
    Datatype::Uint16,
    Datatype::Uint32,
    Datatype::Uint64,
    Datatype::Int8,
    Datatype::Int16,
    Datatype::Int32,
    Datatype::Int64,
    Datatype::Fp16,
    Datatype::Fp32,
    Datatype::Fp64,
    Datatype::Bf16,
    Datatype::Bytes,
];

impl Datatype {
    /// The protocol name (`INT32`, `FP32`, `BYTES`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bf16 => "BF16",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Parse a protocol name.
    pub fn parse(s: &str) -> Option<Datatype> {
        ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// From a config `DataType` value (`TYPE_INT32` = 8, ...); `None` for `TYPE_INVALID`.
    pub fn from_config(v: i32) -> Option<Datatype> {
        Some(match v {
            1 => Datatype::Bool,
            2 => Datatype::Uint8,
            3 => Datatype::Uint16,
            4 => Datatype::Uint32,
            5 => Datatype::Uint64,
            6 => Datatype::Int8,
            7 => Datatype::Int16,
            8 => Datatype::Int32,
            9 => Datatype::Int64,
            10 => Datatype::Fp16,
            11 => Datatype::Fp32,
            12 => Datatype::Fp64,
            13 => Datatype::Bytes,
            14 => Datatype::Bf16,
            _ => return None,
        })
    }

    /// Bytes per element; `None` for `BYTES`.
    pub fn size(self) -> Option<usize> {
        self.kiln().size_of()
    }

    /// The kiln-core element type (`BYTES` is a string tensor).
    pub fn kiln(self) -> DataType {
        match self {
            Datatype::Bool => DataType::Bool,
            Datatype::Uint8 => DataType::U8,
            Datatype::Uint16 => DataType::U16,
            Datatype::Uint32 => DataType::U32,
            Datatype::Uint64 => DataType::U64,
            Datatype::Int8 => DataType::I8,
            Datatype::Int16 => DataType::I16,
            Datatype::Int32 => DataType::I32,
            Datatype::Int64 => DataType::I64,
            Datatype::Fp16 => DataType::F16,
            Datatype::Fp32 => DataType::F32,
            Datatype::Fp64 => DataType::F64,
            Datatype::Bf16 => DataType::BF16,
            Datatype::Bytes => DataType::String,
        }
    }

    /// The protocol datatype of a kiln-core element type.
    pub fn from_kiln(dt: DataType) -> Datatype {
        ALL.into_iter()
            .find(|d| d.kiln() == dt)
            .unwrap_or(Datatype::Bytes)
    }
}

/// The elements of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Row-major little-endian bytes of a fixed-size type.
    Raw(Vec<u8>),
    /// One byte string per element (`BYTES`).
    Bytes(Vec<Vec<u8>>),
}

/// A named tensor of a request or response.
#[derive(Clone, Debug, PartialEq)]
pub struct InferTensor {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub datatype: Datatype,
    /// Shape.
    pub shape: Vec<i64>,
    /// Elements.
    pub data: TensorData,
}

/// Number of elements of a shape (`None` on a negative dimension or overflow).
pub fn element_count(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

impl InferTensor {
    /// A tensor from raw bytes, checking the byte size against the shape.
    pub fn from_raw(
        name: &str,
        datatype: Datatype,
        shape: Vec<i64>,
        raw: Vec<u8>,
    ) -> Result<InferTensor> {
        let count = element_count(&shape).ok_or_else(|| {
            ServerError::InvalidArg(format!("input '{name}' has an invalid shape {shape:?}"))
        })?;
        let data = match datatype.size() {
            Some(size) => {
                if count.checked_mul(size) != Some(raw.len()) {
                    return Err(ServerError::InvalidArg(format!(
                        "unexpected total byte size {} for input '{name}', expecting {}",
                        raw.len(),
                        count.saturating_mul(size)
                    )));
                }
                TensorData::Raw(raw)
            }
            None => TensorData::Bytes(split_bytes_elements(name, &raw, count)?),
        };
        Ok(InferTensor {
            name: name.to_string(),
            datatype,
            shape,
            data,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::Raw(r) => r.len() / self.datatype.size().unwrap_or(1).max(1),
            TensorData::Bytes(b) => b.len(),
        }
    }

    /// True when the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The wire form of the elements: raw bytes, or for `BYTES` each element prefixed with
    /// its 4-byte little-endian length (the KServe binary form).
    pub fn to_raw_bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::Raw(r) => r.clone(),
            TensorData::Bytes(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.extend_from_slice(&(it.len() as u32).to_le_bytes());
                    out.extend_from_slice(it);
                }
                out
            }
        }
    }

    /// Convert to a kiln-core tensor.
    pub fn to_kiln(&self) -> Result<Tensor> {
        let shape: Vec<usize> = self.shape.iter().map(|&d| d.max(0) as usize).collect();
        let t = match &self.data {
            TensorData::Raw(r) => Tensor::from_le_bytes(self.datatype.kiln(), &shape, r),
            TensorData::Bytes(items) => Tensor::from_vec(
                &shape,
                items
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect(),
            ),
        };
        t.map_err(|e| ServerError::InvalidArg(format!("input '{}': {e}", self.name)))
    }

    /// Convert from a kiln-core tensor.
    pub fn from_kiln(name: &str, t: &Tensor) -> Result<InferTensor> {
        let datatype = Datatype::from_kiln(t.dtype());
        let shape = t.shape().iter().map(|&d| d as i64).collect();
        let data = match t {
            Tensor::String(a) => {
                TensorData::Bytes(a.iter().map(|s| s.as_bytes().to_vec()).collect())
            }
            _ => TensorData::Raw(
                t.to_le_bytes()
                    .map_err(|e| ServerError::Internal(format!("output '{name}': {e}")))?,
            ),
        };
        Ok(InferTensor {
            name: name.to_string(),
            datatype,
            shape,
            data,
        })
    }
}

/// Split the KServe binary form of a `BYTES` tensor (4-byte length + bytes per element).
pub fn split_bytes_elements(name: &str, raw: &[u8], count: usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(count.min(raw.len()));
    let mut rest = raw;
    while !rest.is_empty() {
        let bad = || {
            ServerError::InvalidArg(format!(
                "input '{name}': malformed BYTES data (an element's length runs past the end)"
            ))
        };
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let item = rest.get(4..4 + len).ok_or_else(bad)?;
        out.push(item.to_vec());
        rest = &rest[4 + len..];
    }
    if out.len() != count {
        return Err(ServerError::InvalidArg(format!(
            "input '{name}': expected {count} BYTES elements, got {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Concatenate tensors of equal datatype and trailing shape along dimension 0.
pub fn concat_batch(parts: &[&InferTensor]) -> Result<InferTensor> {
    let first = parts
        .first()
        .ok_or_else(|| ServerError::Internal("empty batch".to_string()))?;
    if parts.len() == 1 {
        return Ok((*first).clone());
    }
    let mut batch = 0i64;
    let mut data = match &first.data {
        TensorData::Raw(_) => TensorData::Raw(Vec::new()),
        TensorData::Bytes(_) => TensorData::Bytes(Vec::new()),
    };
    for p in parts {
        if p.datatype != first.datatype || p.shape.get(1..) != first.shape.get(1..) {
            return Err(ServerError::Internal(format!(
                "cannot batch input '{}': shapes {:?} and {:?} differ",
                first.name, first.shape, p.shape
            )));
        }
        batch += p.shape.first().copied().unwrap_or(1);
        match (&mut data, &p.data) {
            (TensorData::Raw(d), TensorData::Raw(s)) => d.extend_from_slice(s),
            (TensorData::Bytes(d), TensorData::Bytes(s)) => d.extend(s.iter().cloned()),
            _ => return Err(ServerError::Internal("mixed tensor storage".to_string())),
        }
    }
    let mut shape = first.shape.clone();
    if let Some(d) = shape.first_mut() {
        *d = batch;
    }
    Ok(InferTensor {
        name: first.name.clone(),
        datatype: first.datatype,
        shape,
        data,
    })
}

/// Split a batched tensor along dimension 0 into pieces of `sizes` rows.
pub fn split_batch(t: &InferTensor, sizes: &[usize]) -> Result<Vec<InferTensor>> {
    if sizes.len() == 1 {
        return Ok(vec![t.clone()]);
    }
    let total: usize = sizes.iter().sum();
    let rows = t.shape.first().copied().unwrap_or(0).max(0) as usize;
    if rows != total {
        return Err(ServerError::Internal(format!(
            "output '{}' has {rows} rows, the batch has {total}",
            t.name
        )));
    }
    let per_row = element_count(t.shape.get(1..).unwrap_or(&[])).unwrap_or(0);
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0usize;
    for &n in sizes {
        let mut shape = t.shape.clone();
        shape[0] = n as i64;
        let data = match &t.data {
            TensorData::Raw(r) => {
                let w = per_row * t.datatype.size().unwrap_or(1);
                TensorData::Raw(r[start * w..(start + n) * w].to_vec())
            }
            TensorData::Bytes(b) => {
                TensorData::Bytes(b[start * per_row..(start + n) * per_row].to_vec())
            }
        };
        out.push(InferTensor {
            name: t.name.clone(),
            datatype: t.datatype,
            shape,
            data,
        });
        start += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32_tensor(shape: Vec<i64>, v: &[i32]) -> InferTensor {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        InferTensor::from_raw("x", Datatype::Int32, shape, raw).unwrap()
    }

    #[test]
    fn concat_then_split_round_trips() {
        let a = i32_tensor(vec![1, 2], &[1, 2]);
        let b = i32_tensor(vec![2, 2], &[3, 4, 5, 6]);
        let c = concat_batch(&[&a, &b]).unwrap();
        assert_eq!(c.shape, vec![3, 2]);
        let parts = split_batch(&c, &[1, 2]).unwrap();
        assert_eq!(parts, vec![a, b]);
    }

    #[test]
    fn byte_size_and_bytes_framing_are_checked() {
        let e = InferTensor::from_raw("x", Datatype::Fp32, vec![2], vec![0; 7]).unwrap_err();
        assert!(e.to_string().contains("unexpected total byte size 7"));
        let raw = [2u32.to_le_bytes().as_slice(), b"hi"].concat();
        let t = InferTensor::from_raw("s", Datatype::Bytes, vec![1], raw.clone()).unwrap();
        assert_eq!(t.to_raw_bytes(), raw);
        assert!(InferTensor::from_raw("s", Datatype::Bytes, vec![1], vec![9, 0, 0, 0, 1]).is_err());
        assert_eq!(Datatype::parse("INT32"), Some(Datatype::Int32));
        assert_eq!(Datatype::from_config(11), Some(Datatype::Fp32));
    }
}
