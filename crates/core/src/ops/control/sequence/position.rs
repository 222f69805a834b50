//! Position handling shared by the sequence ops.

use crate::ops::control::common::scalar_i64;
use crate::{Error, Result, Tensor};

/// Resolve a (possibly negative) position against a sequence of length `len`.
/// `inclusive_end` allows `len` itself (insertion at the back).
pub(crate) fn resolve(
    pos: Option<&Tensor>,
    len: usize,
    default: usize,
    inclusive_end: bool,
) -> Result<usize> {
    let Some(t) = pos else {
        return Ok(default);
    };
    if !matches!(t.dtype(), crate::DataType::I32 | crate::DataType::I64) {
        return Err(Error::dtype("sequence position must be int32 or int64"));
    }
    let p = scalar_i64(t, "sequence position")?;
    let n = len as i64;
    let upper = if inclusive_end { n } else { n - 1 };
    if p < -n || p > upper {
        return Err(Error::input(format!(
            "position {p} is out of range for a sequence of length {len}"
        )));
    }
    Ok(if p < 0 { (p + n) as usize } else { p as usize })
}
