//! The custom layer interface.

use crate::{Attr, AttrSpec, DType, Device, TensorDesc, TensorView, TensorViewMut};
use abi_stable::StableAbi;
use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RResult, RSlice, RSliceMut, RString, RVec};

/// A tensor in CUDA device memory: the device pointer as a plain integer.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct CudaTensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: RVec<u64>,
    /// `CUdeviceptr` of the first element.
    pub ptr: u64,
}

/// One instance of a custom layer, made by its [`LayerCreator`] from a node's attributes
/// (or from its serialized state, when a plan is loaded).
///
/// Every method returns an [`RResult`]; implementations made with [`crate::sdk`] turn
/// panics into errors.
#[sabi_trait]
pub trait Layer: Send + Sync {
    /// Output types and shapes from the inputs' descriptions (dimensions may be symbolic or
    /// unknown). One description per output of the node.
    fn output_descs(&self, inputs: RSlice<'_, TensorDesc>) -> RResult<RVec<TensorDesc>, RString>;

    /// Scratch bytes `execute_cpu` / `execute_cuda` need for these (concrete) inputs.
    fn workspace_size(&self, inputs: RSlice<'_, TensorDesc>) -> RResult<u64, RString>;

    /// Run on the CPU: `outputs` were allocated by the host with the types and shapes
    /// `output_descs` declared for these inputs; `workspace` has `workspace_size` bytes.
    fn execute_cpu(
        &self,
        inputs: RSlice<'_, TensorView<'_>>,
        outputs: RSliceMut<'_, TensorViewMut<'_>>,
        workspace: RSliceMut<'_, u8>,
    ) -> RResult<(), RString>;

    /// Run on a CUDA device: device pointers of the inputs and outputs (outputs allocated
    /// by the host as declared), a device workspace of `workspace_size` bytes (`workspace`,
    /// 0 when none) and the `CUstream` to launch on, as plain integers. The call enqueues
    /// work on the stream; the host synchronizes.
    fn execute_cuda(
        &self,
        inputs: RSlice<'_, CudaTensor>,
        outputs: RSlice<'_, CudaTensor>,
        workspace: u64,
        workspace_size: u64,
        stream: u64,
    ) -> RResult<(), RString>;

    /// The layer's own state (attributes, weights), stored in plans and given back to
    /// [`LayerCreator::deserialize`] when a plan is loaded.
    fn serialize(&self) -> RResult<RVec<u8>, RString>;
}

/// A layer instance behind the ABI: an owned trait object.
pub type LayerBox = Layer_TO<'static, RBox<()>>;

/// What a library says about one of its layers, and how to make instances.
#[repr(C)]
#[derive(StableAbi)]
pub struct LayerCreator {
    /// The layer name (the op type a model node uses, e.g. `SwiGLU`).
    pub name: RString,
    /// The layer version (`1`); a node's `plugin_version` attribute selects one.
    pub version: RString,
    /// The namespace (empty for the default); matched against a node's domain or its
    /// `plugin_namespace` attribute.
    pub namespace: RString,
    /// The attributes the layer accepts.
    pub attributes: RVec<AttrSpec>,
    /// Element types the layer computes in.
    pub dtypes: RVec<DType>,
    /// Devices the layer runs on.
    pub devices: RVec<Device>,
    /// Make an instance from a node's attributes (already checked against `attributes`).
    pub create: extern "C" fn(RSlice<'_, Attr>) -> RResult<LayerBox, RString>,
    /// Make an instance from state [`Layer::serialize`] wrote.
    pub deserialize: extern "C" fn(RSlice<'_, u8>) -> RResult<LayerBox, RString>,
}
