//! ONNX element type numbers (`TensorProto.DataType`) <-> Kiln data types.

use crate::OnnxError;
use kiln_core::DataType;

/// The ONNX name of an element type number (`FLOAT`, `FLOAT8E4M3FN`, ...).
pub fn onnx_dtype_name(code: i32) -> String {
    let name = match code {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        _ => return format!("unknown data type {code}"),
    };
    name.to_string()
}

/// The Kiln data type of an ONNX element type number, or `None` when Kiln has none.
pub fn dtype_from_onnx(code: i32) -> Option<DataType> {
    Some(match code {
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
        _ => return None,
    })
}

/// The ONNX element type number of a Kiln data type.
pub fn dtype_to_onnx(dtype: DataType) -> i32 {
    match dtype {
        DataType::F32 => 1,
        DataType::U8 => 2,
        DataType::I8 => 3,
        DataType::U16 => 4,
        DataType::I16 => 5,
        DataType::I32 => 6,
        DataType::I64 => 7,
        DataType::String => 8,
        DataType::Bool => 9,
        DataType::F16 => 10,
        DataType::F64 => 11,
        DataType::U32 => 12,
        DataType::U64 => 13,
        DataType::BF16 => 16,
    }
}

/// Like [`dtype_from_onnx`], with an error naming the type and where it was found.
pub(crate) fn require_dtype(code: i32, what: &str) -> Result<DataType, OnnxError> {
    dtype_from_onnx(code).ok_or_else(|| OnnxError::UnsupportedDataType {
        dtype: onnx_dtype_name(code),
        what: what.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_kiln_type() {
        for d in DataType::ALL {
            assert_eq!(dtype_from_onnx(dtype_to_onnx(d)), Some(d));
        }
        assert_eq!(dtype_from_onnx(17), None);
        assert_eq!(onnx_dtype_name(22), "INT4");
    }
}
