//! `TensorProto` -> [`kiln_core::Tensor`]: raw little-endian data, typed data fields, and
//! external data files next to the model.

use crate::OnnxError;
use crate::dtype::require_dtype;
use crate::pb;
use kiln_core::half::{bf16, f16};
use kiln_core::{DataType, Element, Tensor};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// The dims of a tensor as sizes, and the element count (checked against overflow).
fn dims_of(tp: &pb::TensorProto, name: &str) -> Result<(Vec<usize>, usize), OnnxError> {
    let mut shape = Vec::with_capacity(tp.dims.len());
    let mut count: usize = 1;
    for &d in &tp.dims {
        let d = usize::try_from(d)
            .map_err(|_| OnnxError::tensor(name, format!("negative dimension {d}")))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| OnnxError::tensor(name, format!("dims {:?} overflow", tp.dims)))?;
        shape.push(d);
    }
    Ok((shape, count))
}

/// Convert a `TensorProto`. `base_dir` is the model's directory, where external data files
/// live; without it, tensors with external data are refused.
pub fn tensor_from_proto(
    tp: &pb::TensorProto,
    base_dir: Option<&Path>,
) -> Result<Tensor, OnnxError> {
    let name = tp.name();
    let dtype = require_dtype(tp.data_type(), &format!("tensor '{name}'"))?;
    let (shape, count) = dims_of(tp, name)?;
    if tp.segment.is_some() {
        return Err(OnnxError::tensor(
            name,
            "segmented tensors are not supported",
        ));
    }
    let external = tp.data_location() == pb::tensor_proto::DataLocation::External;
    if external {
        if dtype == DataType::String {
            return Err(OnnxError::tensor(
                name,
                "string tensors cannot be stored externally",
            ));
        }
        let raw = read_external(tp, base_dir, name, dtype, count)?;
        return Tensor::from_le_bytes(dtype, &shape, &raw)
            .map_err(|e| OnnxError::tensor(name, e.to_string()));
    }
    if let Some(raw) = &tp.raw_data {
        if dtype == DataType::String {
            return Err(OnnxError::tensor(
                name,
                "string tensors cannot use raw_data",
            ));
        }
        let size = dtype.size_of().unwrap_or(1);
        if count.checked_mul(size) != Some(raw.len()) {
            return Err(OnnxError::tensor(
                name,
                format!(
                    "raw_data holds {} bytes but {dtype} dims {shape:?} need {} x {size}",
                    raw.len(),
                    count
                ),
            ));
        }
        return Tensor::from_le_bytes(dtype, &shape, raw)
            .map_err(|e| OnnxError::tensor(name, e.to_string()));
    }
    typed_data(tp, dtype, &shape, count, name)
}

/// Elements from the typed `*_data` fields.
fn typed_data(
    tp: &pb::TensorProto,
    dtype: DataType,
    shape: &[usize],
    count: usize,
    name: &str,
) -> Result<Tensor, OnnxError> {
    fn make<S: Copy, T: Element>(
        src: &[S],
        field: &str,
        shape: &[usize],
        count: usize,
        name: &str,
        f: impl Fn(S) -> T,
    ) -> Result<Tensor, OnnxError> {
        if src.len() != count {
            return Err(OnnxError::tensor(
                name,
                format!(
                    "{field} holds {} elements but dims {shape:?} need {count}",
                    src.len()
                ),
            ));
        }
        Tensor::from_vec(shape, src.iter().map(|&x| f(x)).collect())
            .map_err(|e| OnnxError::tensor(name, e.to_string()))
    }
    let (i32s, i64s, u64s) = (&tp.int32_data, &tp.int64_data, &tp.uint64_data);
    match dtype {
        DataType::F32 => make(&tp.float_data, "float_data", shape, count, name, |x| x),
        DataType::F64 => make(&tp.double_data, "double_data", shape, count, name, |x| x),
        DataType::F16 => make(i32s, "int32_data", shape, count, name, |x| {
            f16::from_bits(x as u16)
        }),
        DataType::BF16 => make(i32s, "int32_data", shape, count, name, |x| {
            bf16::from_bits(x as u16)
        }),
        DataType::I8 => make(i32s, "int32_data", shape, count, name, |x| x as i8),
        DataType::U8 => make(i32s, "int32_data", shape, count, name, |x| x as u8),
        DataType::I16 => make(i32s, "int32_data", shape, count, name, |x| x as i16),
        DataType::U16 => make(i32s, "int32_data", shape, count, name, |x| x as u16),
        DataType::I32 => make(i32s, "int32_data", shape, count, name, |x| x),
        DataType::Bool => make(i32s, "int32_data", shape, count, name, |x| x != 0),
        DataType::I64 => make(i64s, "int64_data", shape, count, name, |x| x),
        DataType::U32 => make(u64s, "uint64_data", shape, count, name, |x| x as u32),
        DataType::U64 => make(u64s, "uint64_data", shape, count, name, |x| x),
        DataType::String => {
            if tp.string_data.len() != count {
                return Err(OnnxError::tensor(
                    name,
                    format!(
                        "string_data holds {} elements but dims {shape:?} need {count}",
                        tp.string_data.len()
                    ),
                ));
            }
            let v: Vec<String> = tp
                .string_data
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            Tensor::from_vec(shape, v).map_err(|e| OnnxError::tensor(name, e.to_string()))
        }
    }
}

/// The file of an external tensor, which must stay inside `base`.
fn external_path(base: &Path, location: &str, name: &str) -> Result<PathBuf, OnnxError> {
    let rel = Path::new(location);
    let mut depth: i64 = 0;
    for c in rel.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(OnnxError::tensor(
                        name,
                        format!("external data location '{location}' leaves the model directory"),
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(OnnxError::tensor(
                    name,
                    format!("external data location '{location}' must be a relative path"),
                ));
            }
        }
    }
    let path = base.join(rel);
    // Symbolic links may still point elsewhere: compare the resolved paths.
    let io = |source| OnnxError::Io {
        path: path.clone(),
        source,
    };
    let real = path.canonicalize().map_err(io)?;
    let real_base = base.canonicalize().map_err(|source| OnnxError::Io {
        path: base.to_path_buf(),
        source,
    })?;
    if !real.starts_with(&real_base) {
        return Err(OnnxError::tensor(
            name,
            format!("external data location '{location}' resolves outside the model directory"),
        ));
    }
    Ok(real)
}

/// Read the bytes of an external tensor (`location`, `offset`, `length` entries).
fn read_external(
    tp: &pb::TensorProto,
    base_dir: Option<&Path>,
    name: &str,
    dtype: DataType,
    count: usize,
) -> Result<Vec<u8>, OnnxError> {
    let base = base_dir.ok_or_else(|| {
        OnnxError::tensor(
            name,
            "external data needs the model's directory (use load_model)",
        )
    })?;
    let mut location = None;
    let mut offset: u64 = 0;
    let mut length: Option<u64> = None;
    for e in &tp.external_data {
        let parse = |v: &str| {
            v.parse::<u64>().map_err(|_| {
                OnnxError::tensor(
                    name,
                    format!("external data {} '{v}' is not a number", e.key()),
                )
            })
        };
        match e.key() {
            "location" => location = Some(e.value().to_string()),
            "offset" => offset = parse(e.value())?,
            "length" => length = Some(parse(e.value())?),
            _ => {}
        }
    }
    let location =
        location.ok_or_else(|| OnnxError::tensor(name, "external data has no location"))?;
    let path = external_path(base, &location, name)?;
    let io = |source| OnnxError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(&path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let need = count
        .checked_mul(dtype.size_of().unwrap_or(1))
        .ok_or_else(|| OnnxError::tensor(name, "tensor size overflows"))? as u64;
    let length = length.unwrap_or(need);
    if length != need {
        return Err(OnnxError::tensor(
            name,
            format!("external data length {length} but the tensor needs {need} bytes"),
        ));
    }
    if offset.checked_add(length).is_none_or(|end| end > file_len) {
        return Err(OnnxError::tensor(
            name,
            format!(
                "external data [{offset}, +{length}) is past the end of '{location}' ({file_len} bytes)"
            ),
        ));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let len = usize::try_from(length)
        .map_err(|_| OnnxError::tensor(name, "external tensor too large for this machine"))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

/// The largest sparse tensor (in elements) that is densified; larger ones are refused.
pub const MAX_DENSE_ELEMENTS: usize = 1 << 28;

/// Densify a `SparseTensorProto` (COO indices, flat `[NNZ]` or `[NNZ, rank]`).
pub fn sparse_from_proto(
    sp: &pb::SparseTensorProto,
    base_dir: Option<&Path>,
) -> Result<Tensor, OnnxError> {
    let values_pb = sp
        .values
        .as_ref()
        .ok_or_else(|| OnnxError::tensor("", "sparse tensor without values"))?;
    let name = values_pb.name();
    let values = tensor_from_proto(values_pb, base_dir)?;
    let indices = match &sp.indices {
        Some(i) => tensor_from_proto(i, base_dir)?
            .to_i64_vec()
            .map_err(|e| OnnxError::tensor(name, e.to_string()))?,
        None => Vec::new(),
    };
    let mut shape = Vec::with_capacity(sp.dims.len());
    let mut total: usize = 1;
    for &d in &sp.dims {
        let d = usize::try_from(d)
            .map_err(|_| OnnxError::tensor(name, format!("negative sparse dimension {d}")))?;
        total = total
            .checked_mul(d)
            .ok_or_else(|| OnnxError::tensor(name, "sparse dims overflow"))?;
        shape.push(d);
    }
    if total > MAX_DENSE_ELEMENTS {
        return Err(OnnxError::tensor(
            name,
            format!("sparse tensor of {total} elements is too large to densify"),
        ));
    }
    let nnz = values.len();
    let rank = shape.len();
    let flat: Vec<usize> = if indices.len() == nnz {
        indices
            .iter()
            .map(|&i| usize::try_from(i).ok().filter(|&i| i < total))
            .collect::<Option<_>>()
            .ok_or_else(|| OnnxError::tensor(name, "sparse index out of range"))?
    } else if rank > 0 && indices.len() == nnz * rank {
        indices
            .chunks(rank)
            .map(|c| {
                c.iter().zip(&shape).try_fold(0usize, |acc, (&i, &d)| {
                    usize::try_from(i)
                        .ok()
                        .filter(|&i| i < d)
                        .map(|i| acc * d + i)
                })
            })
            .collect::<Option<_>>()
            .ok_or_else(|| OnnxError::tensor(name, "sparse index out of range"))?
    } else {
        return Err(OnnxError::tensor(
            name,
            format!(
                "{} sparse indices do not fit {nnz} values of rank {rank}",
                indices.len()
            ),
        ));
    };
    let dense = Tensor::zeros(values.dtype(), &[total]);
    let values = values
        .reshape(&[nnz])
        .map_err(|e| OnnxError::tensor(name, e.to_string()))?;
    let dense = scatter(dense, &values, &flat).map_err(|e| OnnxError::tensor(name, e))?;
    dense
        .reshape(&shape)
        .map_err(|e| OnnxError::tensor(name, e.to_string()))
}

/// `dense[flat[k]] = values[k]` for 1-D tensors of one type.
fn scatter(dense: Tensor, values: &Tensor, flat: &[usize]) -> Result<Tensor, String> {
    macro_rules! go {
        ($($v:ident),*) => {
            match (dense, values) {
                $((Tensor::$v(mut d), Tensor::$v(s)) => {
                    for (k, x) in flat.iter().zip(s.iter()) {
                        if let Some(slot) = d.get_mut([*k].as_slice()) {
                            *slot = x.clone();
                        }
                    }
                    Ok(Tensor::$v(d))
                })*
                _ => Err("sparse values and dense tensor differ in type".to_string()),
            }
        };
    }
    go!(
        F32, F64, F16, BF16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, String
    )
}
