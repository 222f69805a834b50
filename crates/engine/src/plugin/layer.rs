//! A plugin layer inside a graph: a kiln-core [`Op`] whose shape inference and CPU
//! evaluation call the plugin, checking that what it returns fits what it declared.

use super::{LayerPlugin, PluginError};
use kiln_core::{DataType, Dim, Error, InferInput, Op, Shape, Tensor, TensorFact};
use kiln_plugin_abi::abi_stable::std_types::{RNone, RSome};
use kiln_plugin_abi::{
    CudaTensor, DType, LayerBox, RResult, RSlice, RSliceMut, RString, TensorDesc, TensorView,
    TensorViewMut,
};
use std::fmt;
use std::sync::Arc;

/// Largest workspace a plugin may ask for (4 GiB).
const MAX_WORKSPACE: u64 = 4 << 30;

/// A layer instance of a plugin, as a graph op.
pub struct PluginOp {
    plugin: Arc<LayerPlugin>,
    layer: LayerBox,
    state: Vec<u8>,
    num_outputs: usize,
}

impl fmt::Debug for PluginOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PluginOp({:?})", self.plugin)
    }
}

fn result<T>(r: RResult<T, RString>) -> Result<T, String> {
    r.into_result().map_err(|e| e.to_string())
}

pub(crate) fn to_abi_dtype(d: DataType) -> Option<DType> {
    DType::from_name(d.name())
}

fn from_abi_dtype(d: DType) -> Option<DataType> {
    DataType::from_name(d.name())
}

fn desc_of(fact: &TensorFact) -> TensorDesc {
    TensorDesc {
        dtype: fact.dtype.and_then(to_abi_dtype).map_or(RNone, RSome),
        shape: match &fact.shape {
            None => RNone,
            Some(s) => RSome(
                s.0.iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => kiln_plugin_abi::Dim::Fixed(*n as u64),
                        Dim::Sym(s) => kiln_plugin_abi::Dim::Sym(s.as_str().into()),
                        Dim::Unknown => kiln_plugin_abi::Dim::Unknown,
                    })
                    .collect(),
            ),
        },
    }
}

fn fact_of(desc: &TensorDesc) -> Result<TensorFact, String> {
    let dtype = match desc.dtype {
        RSome(d) => Some(from_abi_dtype(d).ok_or_else(|| format!("unknown data type {d}"))?),
        RNone => None,
    };
    let shape = match &desc.shape {
        RNone => None,
        RSome(dims) => Some(Shape(
            dims.iter()
                .map(|d| match d {
                    kiln_plugin_abi::Dim::Fixed(n) => Dim::Fixed(*n as usize),
                    kiln_plugin_abi::Dim::Sym(s) => Dim::Sym(s.to_string()),
                    kiln_plugin_abi::Dim::Unknown => Dim::Unknown,
                })
                .collect(),
        )),
    };
    Ok(TensorFact { dtype, shape })
}

/// An 8-byte aligned byte buffer, so plugins can view f32/f64/i64 data in place.
struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Aligned {
        Aligned {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }
    fn from_bytes(b: &[u8]) -> Aligned {
        let mut a = Aligned::zeroed(b.len());
        a.bytes_mut().copy_from_slice(b);
        a
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// A device buffer given to [`PluginOp::execute_cuda`]: element type, shape, `CUdeviceptr`.
#[derive(Clone, Debug)]
pub struct CudaBuffer {
    /// Element type.
    pub dtype: DataType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Device pointer.
    pub ptr: u64,
}

impl PluginOp {
    /// Wrap a layer instance made by `plugin`.
    pub(crate) fn new(
        plugin: Arc<LayerPlugin>,
        layer: LayerBox,
        num_outputs: usize,
    ) -> Result<PluginOp, PluginError> {
        let state = result(layer.serialize())
            .map_err(|e| plugin.error(format!("cannot serialize its state: {e}")))?
            .to_vec();
        Ok(PluginOp {
            plugin,
            layer,
            state,
            num_outputs,
        })
    }

    /// The plugin that provides this layer.
    pub fn plugin(&self) -> &Arc<LayerPlugin> {
        &self.plugin
    }

    /// The layer's serialized state (stored in plans).
    pub fn state(&self) -> &[u8] {
        &self.state
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Unsupported(self.plugin.error(msg).to_string())
    }

    /// Concrete output (type, shape) for concrete inputs, checked: one per declared output,
    /// every type known and supported, every dimension fixed.
    pub fn output_shapes(
        &self,
        inputs: &[(DataType, Vec<usize>)],
    ) -> Result<Vec<(DataType, Vec<usize>)>, Error> {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .map(|(d, s)| desc_of(&TensorFact::new(*d, Shape::fixed(s))))
            .collect();
        let outs =
            result(self.layer.output_descs(RSlice::from_slice(&descs))).map_err(|e| self.err(e))?;
        self.check_count(outs.len())?;
        outs.iter()
            .enumerate()
            .map(|(i, d)| {
                let dtype = match d.dtype {
                    RSome(t) => from_abi_dtype(t),
                    RNone => None,
                };
                let shape = d.fixed_shape();
                match (dtype, shape) {
                    (Some(t), Some(s)) => Ok((t, s.into_iter().map(|x| x as usize).collect())),
                    _ => Err(self.err(format!(
                        "output {i}: the declared type and shape must be concrete for concrete inputs, got {d:?}"
                    ))),
                }
            })
            .collect()
    }

    fn check_count(&self, n: usize) -> Result<(), Error> {
        if n != self.num_outputs {
            return Err(self.err(format!(
                "declares {n} output(s) but the node has {}",
                self.num_outputs
            )));
        }
        Ok(())
    }

    /// Workspace bytes for concrete inputs (checked against a 4 GiB limit).
    pub fn workspace_size(&self, inputs: &[(DataType, Vec<usize>)]) -> Result<u64, Error> {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .map(|(d, s)| desc_of(&TensorFact::new(*d, Shape::fixed(s))))
            .collect();
        let n = result(self.layer.workspace_size(RSlice::from_slice(&descs)))
            .map_err(|e| self.err(e))?;
        if n > MAX_WORKSPACE {
            return Err(self.err(format!(
                "asks for a {n}-byte workspace (limit {MAX_WORKSPACE})"
            )));
        }
        Ok(n)
    }

    /// Run the CUDA implementation on device buffers the caller allocated (outputs with the
    /// types and shapes [`PluginOp::output_shapes`] gives), enqueued on `stream`.
    pub fn execute_cuda(
        &self,
        inputs: &[CudaBuffer],
        outputs: &[CudaBuffer],
        workspace: u64,
        workspace_size: u64,
        stream: u64,
    ) -> Result<(), Error> {
        if !self.plugin.supports_cuda() {
            return Err(self.err("has no CUDA implementation"));
        }
        let conv = |b: &CudaBuffer| -> Result<CudaTensor, Error> {
            Ok(CudaTensor {
                dtype: to_abi_dtype(b.dtype).ok_or_else(|| {
                    self.err(format!(
                        "data type {} cannot cross the plugin ABI",
                        b.dtype.name()
                    ))
                })?,
                shape: b.shape.iter().map(|&d| d as u64).collect(),
                ptr: b.ptr,
            })
        };
        let ins = inputs.iter().map(conv).collect::<Result<Vec<_>, _>>()?;
        let outs = outputs.iter().map(conv).collect::<Result<Vec<_>, _>>()?;
        result(self.layer.execute_cuda(
            RSlice::from_slice(&ins),
            RSlice::from_slice(&outs),
            workspace,
            workspace_size,
            stream,
        ))
        .map_err(|e| self.err(e))
    }
}

impl Op for PluginOp {
    fn op_type(&self) -> &str {
        &self.plugin.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> kiln_core::Result<Vec<TensorFact>> {
        let descs: Vec<TensorDesc> = inputs.iter().map(|i| desc_of(i.fact)).collect();
        let outs =
            result(self.layer.output_descs(RSlice::from_slice(&descs))).map_err(|e| self.err(e))?;
        self.check_count(outs.len())?;
        outs.iter()
            .map(|d| fact_of(d).map_err(|e| self.err(e)))
            .collect()
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> kiln_core::Result<Vec<Tensor>> {
        let mut shapes = Vec::with_capacity(inputs.len());
        let mut buffers = Vec::with_capacity(inputs.len());
        let mut dtypes = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            let t = t.ok_or_else(|| {
                self.err(format!(
                    "input {i} is omitted; plugin layers take every input"
                ))
            })?;
            let dt = to_abi_dtype(t.dtype()).ok_or_else(|| {
                self.err(format!(
                    "input {i} has data type {}, which cannot cross the plugin ABI",
                    t.dtype().name()
                ))
            })?;
            if !self.plugin.dtypes.contains(&dt) {
                return Err(self.err(format!(
                    "input {i} has data type {dt}; the layer supports {}",
                    self.plugin
                        .dtypes
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            dtypes.push(dt);
            shapes.push(t.shape().iter().map(|&d| d as u64).collect::<Vec<u64>>());
            buffers.push(Aligned::from_bytes(&t.to_le_bytes()?));
        }
        let concrete: Vec<(DataType, Vec<usize>)> = inputs
            .iter()
            .flatten()
            .map(|t| (t.dtype(), t.shape().to_vec()))
            .collect();
        let outs = self.output_shapes(&concrete)?;
        let ws_len = self.workspace_size(&concrete)?;
        let mut workspace = vec![0u8; ws_len as usize];
        let mut out_bufs: Vec<Aligned> = Vec::with_capacity(outs.len());
        let mut out_shapes: Vec<Vec<u64>> = Vec::with_capacity(outs.len());
        for (i, (dt, shape)) in outs.iter().enumerate() {
            let n = shape
                .iter()
                .try_fold(dt.size_of().unwrap_or(1), |a, &d| a.checked_mul(d))
                .filter(|&n| n <= isize::MAX as usize)
                .ok_or_else(|| {
                    self.err(format!("output {i}: declared shape {shape:?} is too large"))
                })?;
            out_bufs.push(Aligned::zeroed(n));
            out_shapes.push(shape.iter().map(|&d| d as u64).collect());
        }
        let views: Vec<TensorView<'_>> = buffers
            .iter()
            .zip(&shapes)
            .zip(&dtypes)
            .map(|((b, s), &dtype)| TensorView {
                dtype,
                shape: RSlice::from_slice(s),
                data: RSlice::from_slice(b.bytes()),
            })
            .collect();
        let mut out_views: Vec<TensorViewMut<'_>> = Vec::with_capacity(outs.len());
        for ((b, s), (dt, _)) in out_bufs.iter_mut().zip(&out_shapes).zip(&outs) {
            let dtype =
                to_abi_dtype(*dt).ok_or_else(|| self.err("output type cannot cross the ABI"))?;
            out_views.push(TensorViewMut {
                dtype,
                shape: RSlice::from_slice(s),
                data: RSliceMut::from_mut_slice(b.bytes_mut()),
            });
        }
        result(self.layer.execute_cpu(
            RSlice::from_slice(&views),
            RSliceMut::from_mut_slice(&mut out_views),
            RSliceMut::from_mut_slice(&mut workspace),
        ))
        .map_err(|e| self.err(e))?;
        // The views may have been replaced by the plugin: check they still describe the
        // buffers the host allocated, as declared.
        for (i, (v, s)) in out_views.iter().zip(&out_shapes).enumerate() {
            if v.shape.as_slice() != s.as_slice()
                || v.data.len()
                    != outs[i].1.iter().product::<usize>() * outs[i].0.size_of().unwrap_or(1)
            {
                return Err(self.err(format!(
                    "output {i} does not have the declared size (declared {s:?}, got {:?} with {} bytes)",
                    v.shape.as_slice(),
                    v.data.len()
                )));
            }
        }
        drop(out_views);
        outs.iter()
            .zip(&out_bufs)
            .map(|((dt, shape), b)| Tensor::from_le_bytes(*dt, shape, b.bytes()))
            .collect()
    }
}
