//! The data types that cross the plugin boundary: element types, dimensions, tensor
//! descriptions and views, attributes and named tensors.

use abi_stable::StableAbi;
use abi_stable::std_types::{RSlice, RSliceMut, RStr, RString, RVec};
use std::fmt;

/// Element type of a tensor. Names follow Kiln's (`f32`, `i64`, ...).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Boolean (one byte, 0 or 1).
    Bool,
}

impl DType {
    /// Every element type.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Kiln's name of the type (`f32`, `bf16`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    /// The type called `name` (see [`DType::name`]).
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a layer can run.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// The host CPU ([`crate::Layer::execute_cpu`]).
    Cpu,
    /// An NVIDIA GPU through CUDA ([`crate::Layer::execute_cuda`]).
    Cuda,
}

/// One dimension of a shape description.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A known size.
    Fixed(u64),
    /// A named size known at run time (`batch`, `seq`).
    Sym(RString),
    /// Unknown.
    Unknown,
}

impl Dim {
    /// The size, when fixed.
    pub fn fixed(&self) -> Option<u64> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }
}

/// Type and shape of a tensor, each possibly unknown (shape inference on symbolic shapes).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct TensorDesc {
    /// The element type, when known.
    pub dtype: abi_stable::std_types::ROption<DType>,
    /// The dimensions, when the rank is known.
    pub shape: abi_stable::std_types::ROption<RVec<Dim>>,
}

impl TensorDesc {
    /// A fully known description.
    pub fn fixed(dtype: DType, shape: &[u64]) -> TensorDesc {
        TensorDesc {
            dtype: abi_stable::std_types::RSome(dtype),
            shape: abi_stable::std_types::RSome(shape.iter().map(|&d| Dim::Fixed(d)).collect()),
        }
    }

    /// The concrete dimensions, when every one is fixed.
    pub fn fixed_shape(&self) -> Option<Vec<u64>> {
        self.shape
            .as_ref()
            .into_option()?
            .iter()
            .map(Dim::fixed)
            .collect()
    }
}

/// A read-only view of a host tensor: element type, dimensions and little-endian bytes.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: RSlice<'a, u64>,
    /// The elements, row-major, `product(shape) * dtype.size()` bytes.
    pub data: RSlice<'a, u8>,
}

impl<'a> TensorView<'a> {
    /// The elements as `f32`, when the type is f32 and the bytes are aligned.
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        (self.dtype == DType::F32)
            .then(|| bytemuck::try_cast_slice(self.data.as_slice()).ok())
            .flatten()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A writable view of a host tensor the host allocated with the declared type and shape.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct TensorViewMut<'a> {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: RSlice<'a, u64>,
    /// The elements, row-major.
    pub data: RSliceMut<'a, u8>,
}

impl TensorViewMut<'_> {
    /// The elements as `f32`, when the type is f32 and the bytes are aligned.
    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        if self.dtype != DType::F32 {
            return None;
        }
        bytemuck::try_cast_slice_mut(self.data.as_mut_slice()).ok()
    }
}

/// The kind of an attribute value.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// A float.
    Float,
    /// An integer.
    Int,
    /// A string.
    Str,
    /// A list of floats.
    Floats,
    /// A list of integers.
    Ints,
    /// A list of strings.
    Strings,
    /// A tensor.
    Tensor,
}

impl AttrKind {
    /// Lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            AttrKind::Float => "float",
            AttrKind::Int => "int",
            AttrKind::Str => "string",
            AttrKind::Floats => "floats",
            AttrKind::Ints => "ints",
            AttrKind::Strings => "strings",
            AttrKind::Tensor => "tensor",
        }
    }
}

/// A typed attribute value.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A string.
    Str(RString),
    /// A list of floats.
    Floats(RVec<f32>),
    /// A list of integers.
    Ints(RVec<i64>),
    /// A list of strings.
    Strings(RVec<RString>),
    /// A tensor.
    Tensor(NamedTensor),
}

impl AttrValue {
    /// The kind of the value.
    pub fn kind(&self) -> AttrKind {
        match self {
            AttrValue::Float(_) => AttrKind::Float,
            AttrValue::Int(_) => AttrKind::Int,
            AttrValue::Str(_) => AttrKind::Str,
            AttrValue::Floats(_) => AttrKind::Floats,
            AttrValue::Ints(_) => AttrKind::Ints,
            AttrValue::Strings(_) => AttrKind::Strings,
            AttrValue::Tensor(_) => AttrKind::Tensor,
        }
    }
}

/// A named attribute of a layer.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Attr {
    /// Attribute name.
    pub name: RString,
    /// Its value.
    pub value: AttrValue,
}

/// The declaration of one attribute a layer accepts: the host checks a node's attributes
/// against these (unknown names, wrong kinds, missing required ones) before creating it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct AttrSpec {
    /// Attribute name.
    pub name: RString,
    /// Its kind.
    pub kind: AttrKind,
    /// True when the attribute must be given.
    pub required: bool,
}

impl AttrSpec {
    /// An attribute declaration.
    pub fn new(name: &str, kind: AttrKind, required: bool) -> AttrSpec {
        AttrSpec {
            name: name.into(),
            kind,
            required,
        }
    }
}

/// An owned tensor with a name (backend outputs, tensor attributes).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct NamedTensor {
    /// Tensor name.
    pub name: RString,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: RVec<u64>,
    /// The elements, row-major, little-endian.
    pub data: RVec<u8>,
}

impl NamedTensor {
    /// An f32 tensor from its values.
    pub fn from_f32(name: &str, shape: &[u64], values: &[f32]) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            dtype: DType::F32,
            shape: shape.into(),
            data: bytemuck::cast_slice::<f32, u8>(values).to_vec().into(),
        }
    }

    /// A view of the tensor.
    pub fn view(&self) -> TensorView<'_> {
        TensorView {
            dtype: self.dtype,
            shape: self.shape.as_rslice(),
            data: self.data.as_rslice(),
        }
    }
}

/// A borrowed named tensor (backend request inputs).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct NamedView<'a> {
    /// Tensor name.
    pub name: RStr<'a>,
    /// The tensor.
    pub tensor: TensorView<'a>,
}
