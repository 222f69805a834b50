//! Conversions between the configuration's `DataType`, the KServe v2 wire names and Kiln's
//! core data types.

use crate::proto::inference::DataType;
use kiln_core::DataType as CoreType;

/// The KServe v2 / Triton API name of a data type (`"FP32"`, `"INT32"`, `"BYTES"`...), as used
/// in model metadata and inference requests. `TYPE_INVALID` gives `"INVALID"`.
pub fn wire_name(dt: DataType) -> &'static str {
    match dt {
        DataType::TypeInvalid => "INVALID",
        DataType::TypeBool => "BOOL",
        DataType::TypeUint8 => "UINT8",
        DataType::TypeUint16 => "UINT16",
        DataType::TypeUint32 => "UINT32",
        DataType::TypeUint64 => "UINT64",
        DataType::TypeInt8 => "INT8",
        DataType::TypeInt16 => "INT16",
        DataType::TypeInt32 => "INT32",
        DataType::TypeInt64 => "INT64",
        DataType::TypeFp16 => "FP16",
        DataType::TypeFp32 => "FP32",
        DataType::TypeFp64 => "FP64",
        DataType::TypeString => "BYTES",
        DataType::TypeBf16 => "BF16",
    }
}

/// The data type of a KServe v2 wire name (`"FP32"`, `"BYTES"`...); `None` for unknown names.
pub fn from_wire_name(name: &str) -> Option<DataType> {
    const ALL: [DataType; 14] = [
        DataType::TypeBool,
        DataType::TypeUint8,
        DataType::TypeUint16,
        DataType::TypeUint32,
        DataType::TypeUint64,
        DataType::TypeInt8,
        DataType::TypeInt16,
        DataType::TypeInt32,
        DataType::TypeInt64,
        DataType::TypeFp16,
        DataType::TypeFp32,
        DataType::TypeFp64,
        DataType::TypeString,
        DataType::TypeBf16,
    ];
    ALL.into_iter().find(|&dt| wire_name(dt) == name)
}

/// Kiln's core data type for a configuration data type; `None` for `TYPE_INVALID`.
pub fn to_core(dt: DataType) -> Option<CoreType> {
    Some(match dt {
        DataType::TypeInvalid => return None,
        DataType::TypeBool => CoreType::Bool,
        DataType::TypeUint8 => CoreType::U8,
        DataType::TypeUint16 => CoreType::U16,
        DataType::TypeUint32 => CoreType::U32,
        DataType::TypeUint64 => CoreType::U64,
        DataType::TypeInt8 => CoreType::I8,
        DataType::TypeInt16 => CoreType::I16,
        DataType::TypeInt32 => CoreType::I32,
        DataType::TypeInt64 => CoreType::I64,
        DataType::TypeFp16 => CoreType::F16,
        DataType::TypeFp32 => CoreType::F32,
        DataType::TypeFp64 => CoreType::F64,
        DataType::TypeString => CoreType::String,
        DataType::TypeBf16 => CoreType::BF16,
    })
}

/// The configuration data type of a Kiln core data type.
pub fn from_core(dt: CoreType) -> DataType {
    match dt {
        CoreType::Bool => DataType::TypeBool,
        CoreType::U8 => DataType::TypeUint8,
        CoreType::U16 => DataType::TypeUint16,
        CoreType::U32 => DataType::TypeUint32,
        CoreType::U64 => DataType::TypeUint64,
        CoreType::I8 => DataType::TypeInt8,
        CoreType::I16 => DataType::TypeInt16,
        CoreType::I32 => DataType::TypeInt32,
        CoreType::I64 => DataType::TypeInt64,
        CoreType::F16 => DataType::TypeFp16,
        CoreType::F32 => DataType::TypeFp32,
        CoreType::F64 => DataType::TypeFp64,
        CoreType::String => DataType::TypeString,
        CoreType::BF16 => DataType::TypeBf16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_core_types_round_trip() {
        for dt in CoreType::ALL {
            let cfg = from_core(dt);
            assert_eq!(to_core(cfg), Some(dt));
            assert_eq!(from_wire_name(wire_name(cfg)), Some(cfg));
        }
        assert_eq!(wire_name(DataType::TypeString), "BYTES");
        assert_eq!(from_wire_name("FLOAT"), None);
        assert_eq!(to_core(DataType::TypeInvalid), None);
    }
}
