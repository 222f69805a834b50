//! Macros that run one generic body for each element type of a tensor.
//!
//! In every arm the body sees `T` as the element type and `$a` bound to the array
//! (by reference when the scrutinee is a reference). Types the macro does not cover make the
//! enclosing function return a [`crate::Error::Type`].

/// Run `$body` for any element type.
#[macro_export]
macro_rules! dispatch_all {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::F32($a) => {
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            $crate::Tensor::F64($a) => {
                #[allow(dead_code)]
                type T = f64;
                $body
            }
            $crate::Tensor::F16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::f16;
                $body
            }
            $crate::Tensor::BF16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::bf16;
                $body
            }
            $crate::Tensor::I8($a) => {
                #[allow(dead_code)]
                type T = i8;
                $body
            }
            $crate::Tensor::U8($a) => {
                #[allow(dead_code)]
                type T = u8;
                $body
            }
            $crate::Tensor::I16($a) => {
                #[allow(dead_code)]
                type T = i16;
                $body
            }
            $crate::Tensor::U16($a) => {
                #[allow(dead_code)]
                type T = u16;
                $body
            }
            $crate::Tensor::I32($a) => {
                #[allow(dead_code)]
                type T = i32;
                $body
            }
            $crate::Tensor::U32($a) => {
                #[allow(dead_code)]
                type T = u32;
                $body
            }
            $crate::Tensor::I64($a) => {
                #[allow(dead_code)]
                type T = i64;
                $body
            }
            $crate::Tensor::U64($a) => {
                #[allow(dead_code)]
                type T = u64;
                $body
            }
            $crate::Tensor::Bool($a) => {
                #[allow(dead_code)]
                type T = bool;
                $body
            }
            $crate::Tensor::String($a) => {
                #[allow(dead_code)]
                type T = String;
                $body
            }
        }
    };
}

/// Run `$body` for the copyable (non-string) element types.
#[macro_export]
macro_rules! dispatch_copy {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::String(_) => {
                return Err($crate::Error::Type("string tensors are not supported here".into()))
            }
            $crate::Tensor::Bool($a) => { #[allow(dead_code)] type T = bool; $body }
            other => $crate::dispatch_numeric!(other, $a => $body),
        }
    };
}

/// Run `$body` for the numeric element types (integers and floats).
#[macro_export]
macro_rules! dispatch_numeric {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::F32($a) => {
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            $crate::Tensor::F64($a) => {
                #[allow(dead_code)]
                type T = f64;
                $body
            }
            $crate::Tensor::F16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::f16;
                $body
            }
            $crate::Tensor::BF16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::bf16;
                $body
            }
            $crate::Tensor::I8($a) => {
                #[allow(dead_code)]
                type T = i8;
                $body
            }
            $crate::Tensor::U8($a) => {
                #[allow(dead_code)]
                type T = u8;
                $body
            }
            $crate::Tensor::I16($a) => {
                #[allow(dead_code)]
                type T = i16;
                $body
            }
            $crate::Tensor::U16($a) => {
                #[allow(dead_code)]
                type T = u16;
                $body
            }
            $crate::Tensor::I32($a) => {
                #[allow(dead_code)]
                type T = i32;
                $body
            }
            $crate::Tensor::U32($a) => {
                #[allow(dead_code)]
                type T = u32;
                $body
            }
            $crate::Tensor::I64($a) => {
                #[allow(dead_code)]
                type T = i64;
                $body
            }
            $crate::Tensor::U64($a) => {
                #[allow(dead_code)]
                type T = u64;
                $body
            }
            other => {
                return Err($crate::Error::Type(format!(
                    "expected a numeric tensor, got {}",
                    other.dtype()
                )))
            }
        }
    };
}

/// Run `$body` for the float element types (f32, f64, f16, bf16).
#[macro_export]
macro_rules! dispatch_float {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::F32($a) => {
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            $crate::Tensor::F64($a) => {
                #[allow(dead_code)]
                type T = f64;
                $body
            }
            $crate::Tensor::F16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::f16;
                $body
            }
            $crate::Tensor::BF16($a) => {
                #[allow(dead_code)]
                type T = $crate::half::bf16;
                $body
            }
            other => {
                return Err($crate::Error::Type(format!(
                    "expected a float tensor, got {}",
                    other.dtype()
                )))
            }
        }
    };
}

/// Run `$body` for the integer element types.
#[macro_export]
macro_rules! dispatch_int {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::Tensor::I8($a) => {
                #[allow(dead_code)]
                type T = i8;
                $body
            }
            $crate::Tensor::U8($a) => {
                #[allow(dead_code)]
                type T = u8;
                $body
            }
            $crate::Tensor::I16($a) => {
                #[allow(dead_code)]
                type T = i16;
                $body
            }
            $crate::Tensor::U16($a) => {
                #[allow(dead_code)]
                type T = u16;
                $body
            }
            $crate::Tensor::I32($a) => {
                #[allow(dead_code)]
                type T = i32;
                $body
            }
            $crate::Tensor::U32($a) => {
                #[allow(dead_code)]
                type T = u32;
                $body
            }
            $crate::Tensor::I64($a) => {
                #[allow(dead_code)]
                type T = i64;
                $body
            }
            $crate::Tensor::U64($a) => {
                #[allow(dead_code)]
                type T = u64;
                $body
            }
            other => {
                return Err($crate::Error::Type(format!(
                    "expected an integer tensor, got {}",
                    other.dtype()
                )))
            }
        }
    };
}
