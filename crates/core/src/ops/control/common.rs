//! Helpers shared by the control-flow, sequence, recurrent, signal and vision ops:
//! value access, attribute checks, f64 round trips and axis-wise tensor assembly.

use crate::{Attributes, DataType, Element, Error, Graph, Result, Tensor, Value, ValueType};
use half::{bf16, f16};
use ndarray::{Axis, IxDyn};

/// Reject attributes not in `known` with an "unsupported attribute" error.
pub(crate) fn check_attrs(attrs: &Attributes, known: &[&str]) -> Result<()> {
    match attrs.unknown(known).first() {
        Some(name) => Err(Error::attr(name, "unsupported attribute")),
        None => Ok(()),
    }
}

/// The value at input `i`, or an error when it is absent.
pub(crate) fn value_in<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a Value> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| Error::input(format!("required input {i} is missing")))
}

/// The tensor at input `i`, or an error when it is absent or not a tensor.
pub(crate) fn tensor_in<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a Tensor> {
    value_in(inputs, i)?.as_tensor()
}

/// The optional tensor at input `i` (absent gives `None`; a non-tensor is an error).
pub(crate) fn opt_tensor_in<'a>(
    inputs: &[Option<&'a Value>],
    i: usize,
) -> Result<Option<&'a Tensor>> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .map(Value::as_tensor)
        .transpose()
}

/// The sequence at input `i`.
pub(crate) fn seq_in<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a [Tensor]> {
    match value_in(inputs, i)? {
        Value::Sequence(s) => Ok(s),
        _ => Err(Error::input(format!("input {i} must be a sequence"))),
    }
}

/// The single element of a one-element tensor as i64.
pub(crate) fn scalar_i64(t: &Tensor, what: &str) -> Result<i64> {
    let v = t.to_i64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(Error::input(format!(
            "{what} must hold exactly one element, got shape {:?}",
            t.shape()
        ))),
    }
}

/// The single element of a one-element tensor as f64.
pub(crate) fn scalar_f64(t: &Tensor, what: &str) -> Result<f64> {
    let v = t.to_f64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(Error::input(format!(
            "{what} must hold exactly one element, got shape {:?}",
            t.shape()
        ))),
    }
}

/// The single element of a one-element boolean (or integer) tensor.
pub(crate) fn scalar_bool(t: &Tensor, what: &str) -> Result<bool> {
    Ok(scalar_i64(t, what)? != 0)
}

/// Check that `t` is a float tensor and return its elements as f64.
pub(crate) fn float_data(t: &Tensor, what: &str) -> Result<Vec<f64>> {
    if !t.dtype().is_float() {
        return Err(Error::dtype(format!(
            "{what} must be a float tensor, got {}",
            t.dtype()
        )));
    }
    t.to_f64_vec()
}

/// A tensor of `dtype` from f64 values (floats round to nearest; integers truncate).
pub(crate) fn from_f64(dtype: DataType, shape: &[usize], data: Vec<f64>) -> Result<Tensor> {
    match dtype {
        DataType::F32 => Tensor::from_vec(shape, data.into_iter().map(|x| x as f32).collect()),
        DataType::F64 => Tensor::from_vec(shape, data),
        DataType::F16 => Tensor::from_vec(shape, data.into_iter().map(f16::from_f64).collect()),
        DataType::BF16 => Tensor::from_vec(shape, data.into_iter().map(bf16::from_f64).collect()),
        DataType::I8 => Tensor::from_vec(shape, data.into_iter().map(|x| x as i8).collect()),
        DataType::U8 => Tensor::from_vec(shape, data.into_iter().map(|x| x as u8).collect()),
        DataType::I16 => Tensor::from_vec(shape, data.into_iter().map(|x| x as i16).collect()),
        DataType::U16 => Tensor::from_vec(shape, data.into_iter().map(|x| x as u16).collect()),
        DataType::I32 => Tensor::from_vec(shape, data.into_iter().map(|x| x as i32).collect()),
        DataType::U32 => Tensor::from_vec(shape, data.into_iter().map(|x| x as u32).collect()),
        DataType::I64 => Tensor::from_vec(shape, data.into_iter().map(|x| x as i64).collect()),
        DataType::U64 => Tensor::from_vec(shape, data.into_iter().map(|x| x as u64).collect()),
        DataType::Bool => Tensor::from_vec(shape, data.into_iter().map(|x| x != 0.0).collect()),
        DataType::String => Err(Error::dtype(
            "string tensors cannot be computed numerically",
        )),
    }
}

/// The data type of an ONNX `TensorProto.DataType` code.
pub(crate) fn dtype_from_onnx(code: i64) -> Result<DataType> {
    Ok(match code {
        1 => DataType::F32,
        2 => DataType::U8,
        3 => DataType::I8,
        4 => DataType::U16,
        5 => DataType::I16,
        6 => DataType::I32,
        7 => DataType::I64,
        8 => DataType::String,
        9 => DataType::Bool,
        10 => DataType::F16,
        11 => DataType::F64,
        12 => DataType::U32,
        13 => DataType::U64,
        16 => DataType::BF16,
        other => {
            return Err(Error::unsupported(format!(
                "ONNX data type {other} is not supported"
            )));
        }
    })
}

fn concat_t<T: Element>(ts: &[Tensor], axis: usize) -> Result<Tensor> {
    let views = ts
        .iter()
        .map(|t| t.array::<T>().map(|a| a.view()))
        .collect::<Result<Vec<_>>>()?;
    let a = ndarray::concatenate(Axis(axis), &views)
        .map_err(|e| Error::shape(format!("cannot concatenate: {e}")))?;
    Ok(T::wrap(a))
}

/// Concatenate tensors of one dtype along an existing axis.
pub(crate) fn concat(ts: &[Tensor], axis: usize) -> Result<Tensor> {
    let first = ts
        .first()
        .ok_or_else(|| Error::input("cannot concatenate zero tensors"))?;
    if axis >= first.rank() {
        return Err(Error::shape(format!(
            "axis {axis} is out of range for rank {}",
            first.rank()
        )));
    }
    crate::dispatch_all!(first, _a => concat_t::<T>(ts, axis))
}

/// Insert a new axis of size 1 at `axis`.
pub(crate) fn expand_axis(t: &Tensor, axis: usize) -> Result<Tensor> {
    let mut shape = t.shape().to_vec();
    if axis > shape.len() {
        return Err(Error::shape(format!(
            "axis {axis} is out of range for rank {}",
            shape.len() + 1
        )));
    }
    shape.insert(axis, 1);
    t.reshape(&shape)
}

/// Stack tensors of one shape and dtype along a new axis.
pub(crate) fn stack(ts: &[Tensor], axis: usize) -> Result<Tensor> {
    let expanded = ts
        .iter()
        .map(|t| expand_axis(t, axis))
        .collect::<Result<Vec<_>>>()?;
    concat(&expanded, axis)
}

/// The sub-tensor at index `i` of `axis` (the axis removed).
pub(crate) fn index_axis(t: &Tensor, axis: usize, i: usize) -> Result<Tensor> {
    let shape = t.shape();
    if axis >= shape.len() || i >= shape[axis] {
        return Err(Error::shape(format!(
            "index {i} of axis {axis} is out of range for shape {shape:?}"
        )));
    }
    Ok(crate::dispatch_all!(t, a => T::wrap(a.index_axis(Axis(axis), i).to_owned())))
}

/// Elements `start..end` of `axis`.
pub(crate) fn slice_axis(t: &Tensor, axis: usize, start: usize, end: usize) -> Result<Tensor> {
    let shape = t.shape();
    if axis >= shape.len() || start > end || end > shape[axis] {
        return Err(Error::shape(format!(
            "range {start}..{end} of axis {axis} is out of range for shape {shape:?}"
        )));
    }
    Ok(crate::dispatch_all!(t, a => {
        T::wrap(a.slice_axis(Axis(axis), ndarray::Slice::from(start..end)).to_owned())
    }))
}

/// Move axis `from` to position `to` (other axes keep their order).
pub(crate) fn move_axis(t: &Tensor, from: usize, to: usize) -> Result<Tensor> {
    let rank = t.rank();
    if from >= rank || to >= rank {
        return Err(Error::shape(format!(
            "cannot move axis {from} to {to} in rank {rank}"
        )));
    }
    let mut perm: Vec<usize> = (0..rank).filter(|&a| a != from).collect();
    perm.insert(to, from);
    Ok(crate::dispatch_all!(t, a => {
        T::wrap(a.view().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned())
    }))
}

/// Reverse the order of elements along `axis`.
pub(crate) fn reverse_axis(t: &Tensor, axis: usize) -> Result<Tensor> {
    if axis >= t.rank() {
        return Err(Error::shape(format!(
            "axis {axis} is out of range for rank {}",
            t.rank()
        )));
    }
    Ok(crate::dispatch_all!(t, a => {
        let mut v = a.view();
        v.invert_axis(Axis(axis));
        T::wrap(v.as_standard_layout().into_owned())
    }))
}

/// An empty tensor standing for a scan output of zero iterations: its dtype and the
/// non-scan dims come from the body's declared output type where it is known.
pub(crate) fn empty_scan_output(ty: &ValueType) -> Value {
    match ty {
        ValueType::Tensor(fact) => {
            let dtype = fact.dtype.unwrap_or(DataType::F32);
            let mut shape = vec![0usize];
            if let Some(s) = fact.shape.as_ref().and_then(|s| s.as_fixed()) {
                shape.extend(s);
            }
            Value::Tensor(Tensor::zeros(dtype, &shape))
        }
        ValueType::Sequence(_) => Value::Sequence(Vec::new()),
        ValueType::Optional(_) => Value::Optional(None),
    }
}

/// Run a subgraph body with `inputs` bound to its declared inputs in order.
pub(crate) fn run_body(
    body: &Graph,
    inputs: Vec<Value>,
    scope: Option<&crate::Scope<'_>>,
) -> Result<Vec<Value>> {
    if inputs.len() != body.inputs.len() {
        return Err(Error::Graph(format!(
            "subgraph '{}' declares {} inputs but {} are bound",
            body.name,
            body.inputs.len(),
            inputs.len()
        )));
    }
    let map = body
        .inputs
        .iter()
        .map(|vi| vi.name.clone())
        .zip(inputs)
        .collect();
    crate::run_graph(body, map, scope)
}
