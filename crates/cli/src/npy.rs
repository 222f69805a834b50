//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): read and write [`Tensor`]s.
//!
//! Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length
//! (u16 little-endian for 1.0, u32 for 2.0/3.0), a header that is a Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }` padded with spaces to a
//! multiple of 64 bytes and ended by `\n`, then the raw elements in C order.
//!
//! Element types: `f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`, both byte orders on read;
//! `V2` is bf16 (what NumPy writes for `ml_dtypes.bfloat16` arrays); `U<n>` (UTF-32) and
//! `S<n>` (bytes, must be UTF-8) are string tensors. Fortran-ordered arrays, object
//! arrays and structured types are refused with an error saying so.

use anyhow::{Context, Result, bail, ensure};
use kiln_core::{DataType, Tensor};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Byte order of the elements in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

/// What the `descr` field of a header names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Descr {
    /// A fixed-size kiln element type.
    Plain(DataType, Order),
    /// `U<n>`: strings of at most `n` UTF-32 code points.
    Unicode(usize, Order),
    /// `S<n>`: byte strings of at most `n` bytes.
    Bytes(usize),
}

/// Read a `.npy` file into a tensor; errors name the file (used by the integration tests).
#[allow(dead_code)]
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    parse_npy(&bytes).with_context(|| format!("'{}' is not a readable .npy file", path.display()))
}

/// Write a tensor to a `.npy` file.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    let bytes = encode_npy(tensor)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write '{}'", path.display()))
}

/// Parse the bytes of a `.npy` file.
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor> {
    ensure!(
        bytes.len() >= 10 && &bytes[..6] == MAGIC,
        "missing the NumPy magic number (\\x93NUMPY)"
    );
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            ensure!(bytes.len() >= 12, "file ends inside the header length");
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => bail!("unsupported .npy format version {major}.{minor} (known: 1.0, 2.0, 3.0)"),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .with_context(|| {
            format!(
                "header claims {header_len} bytes but the file has only {}",
                bytes.len().saturating_sub(start)
            )
        })?;
    let header = if major == 3 {
        std::str::from_utf8(&bytes[start..end])
            .context("header is not valid UTF-8")?
            .to_string()
    } else {
        // Versions 1 and 2 use latin-1.
        bytes[start..end].iter().map(|&b| b as char).collect()
    };
    let (descr, fortran, shape) = parse_header(&header)?;
    ensure!(
        !fortran,
        "Fortran-ordered arrays are not supported; save a C-ordered array \
         (np.ascontiguousarray) instead"
    );
    decode_data(descr, &shape, &bytes[end..])
}

/// Encode a tensor as a `.npy` file (version 1.0, or 2.0 for very long headers).
pub fn encode_npy(tensor: &Tensor) -> Result<Vec<u8>> {
    let (descr, data) = match tensor {
        Tensor::String(a) => {
            let width = a
                .iter()
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut data = Vec::with_capacity(a.len() * width * 4);
            for s in a.iter() {
                let n = s.chars().count();
                for c in s.chars() {
                    data.extend_from_slice(&(c as u32).to_le_bytes());
                }
                data.resize(data.len() + (width - n) * 4, 0);
            }
            (format!("<U{width}"), data)
        }
        t => {
            let descr = match t.dtype() {
                DataType::F32 => "<f4",
                DataType::F64 => "<f8",
                DataType::F16 => "<f2",
                DataType::BF16 => "<V2",
                DataType::I8 => "|i1",
                DataType::U8 => "|u1",
                DataType::I16 => "<i2",
                DataType::U16 => "<u2",
                DataType::I32 => "<i4",
                DataType::U32 => "<u4",
                DataType::I64 => "<i8",
                DataType::U64 => "<u8",
                DataType::Bool => "|b1",
                DataType::String => bail!("string tensors are handled above"),
            };
            (descr.to_string(), t.to_le_bytes()?)
        }
    };
    let dims: Vec<String> = tensor.shape().iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let (major, prefix) = if header.len() + 11 <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    while prefix + header.len() + 1 < total {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(total + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

/// Parse the header dict into (descr, fortran_order, shape).
fn parse_header(header: &str) -> Result<(Descr, bool, Vec<usize>)> {
    let mut p = Lexer {
        s: header.trim_end_matches(['\n', ' ', '\0']).as_bytes(),
        i: 0,
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => {
                p.skip_ws();
                if p.peek() == Some(b'[') {
                    bail!("structured arrays (record dtypes) are not supported");
                }
                descr = Some(parse_descr(&p.string()?)?);
            }
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => bail!("unexpected header key '{other}'"),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    Ok((
        descr.context("header has no 'descr'")?,
        fortran.context("header has no 'fortran_order'")?,
        shape.context("header has no 'shape'")?,
    ))
}

/// Map a NumPy type string such as `<f4` to a [`Descr`].
fn parse_descr(d: &str) -> Result<Descr> {
    let (order, rest) = match d.as_bytes().first() {
        Some(b'<') | Some(b'|') => (Order::Little, &d[1..]),
        Some(b'>') => (Order::Big, &d[1..]),
        Some(b'=') if cfg!(target_endian = "little") => (Order::Little, &d[1..]),
        Some(b'=') => (Order::Big, &d[1..]),
        _ => (Order::Little, d),
    };
    let dt = match rest {
        "f2" | "e" => DataType::F16,
        "f4" | "f" => DataType::F32,
        "f8" | "d" => DataType::F64,
        "i1" | "b" => DataType::I8,
        "i2" | "h" => DataType::I16,
        "i4" | "i" => DataType::I32,
        "i8" | "q" | "l" => DataType::I64,
        "u1" | "B" => DataType::U8,
        "u2" | "H" => DataType::U16,
        "u4" | "I" => DataType::U32,
        "u8" | "Q" | "L" => DataType::U64,
        "b1" | "?" => DataType::Bool,
        "V2" => DataType::BF16,
        _ => {
            let width = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
            if let Some(n) = rest.strip_prefix('U').and_then(width) {
                return Ok(Descr::Unicode(n, order));
            }
            if let Some(n) = rest.strip_prefix('S').and_then(width) {
                return Ok(Descr::Bytes(n));
            }
            if rest.starts_with('O') {
                bail!("object arrays ('{d}') are not supported (they hold pickles)");
            }
            bail!("unsupported element type '{d}'");
        }
    };
    Ok(Descr::Plain(dt, order))
}

/// Turn the data section into a tensor.
fn decode_data(descr: Descr, shape: &[usize], data: &[u8]) -> Result<Tensor> {
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("shape {shape:?} is too large"))?;
    let item = match descr {
        Descr::Plain(dt, _) => dt.size_of().unwrap_or(1),
        Descr::Unicode(n, _) => n.checked_mul(4).context("string width too large")?,
        Descr::Bytes(n) => n,
    };
    let need = count
        .checked_mul(item)
        .with_context(|| format!("shape {shape:?} is too large"))?;
    ensure!(
        data.len() >= need,
        "truncated data: shape {shape:?} needs {need} bytes, the file has {}",
        data.len()
    );
    if data.len() > need {
        tracing::warn!(
            extra = data.len() - need,
            "ignoring trailing bytes after the .npy data"
        );
    }
    let data = &data[..need];
    match descr {
        Descr::Plain(dt, order) => {
            let t = if order == Order::Big && item > 1 {
                let mut le = data.to_vec();
                for c in le.chunks_exact_mut(item) {
                    c.reverse();
                }
                Tensor::from_le_bytes(dt, shape, &le)?
            } else {
                Tensor::from_le_bytes(dt, shape, data)?
            };
            Ok(t)
        }
        Descr::Unicode(_, order) => {
            let mut strings = Vec::with_capacity(count);
            for (i, chunk) in data.chunks_exact(item.max(1)).enumerate() {
                let mut s = String::new();
                for cp in chunk.chunks_exact(4) {
                    let b = [cp[0], cp[1], cp[2], cp[3]];
                    let v = match order {
                        Order::Little => u32::from_le_bytes(b),
                        Order::Big => u32::from_be_bytes(b),
                    };
                    if v == 0 {
                        break;
                    }
                    s.push(
                        char::from_u32(v)
                            .with_context(|| format!("element {i}: invalid code point {v:#x}"))?,
                    );
                }
                strings.push(s);
            }
            Ok(Tensor::from_vec(shape, strings)?)
        }
        Descr::Bytes(_) => {
            let mut strings = Vec::with_capacity(count);
            for (i, chunk) in data.chunks_exact(item.max(1)).enumerate() {
                let end = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
                let s = std::str::from_utf8(&chunk[..end])
                    .with_context(|| format!("element {i}: byte string is not UTF-8"))?;
                strings.push(s.to_string());
            }
            Ok(Tensor::from_vec(shape, strings)?)
        }
    }
}

/// A tiny lexer for the Python literal of the header.
struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        ensure!(
            self.eat(c),
            "malformed header: expected '{}' at byte {}",
            c as char,
            self.i
        );
        Ok(())
    }

    fn string(&mut self) -> Result<String> {
        self.skip_ws();
        let q = self.peek().filter(|&c| c == b'\'' || c == b'"');
        let q =
            q.with_context(|| format!("malformed header: expected a string at byte {}", self.i))?;
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != q) {
            self.i += 1;
        }
        ensure!(
            self.peek() == Some(q),
            "malformed header: unterminated string"
        );
        let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(s)
    }

    fn boolean(&mut self) -> Result<bool> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            bail!(
                "malformed header: expected True or False at byte {}",
                self.i
            )
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            // Python 2 era files may write long integers as `3L`.
            if self.peek() == Some(b'L') {
                self.i += 1;
            }
            let d = text.parse::<usize>().with_context(|| {
                format!("malformed header: expected a dimension at byte {start}")
            })?;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::half::{bf16, f16};

    fn halves(v: &[f32]) -> (Vec<f16>, Vec<bf16>) {
        (
            v.iter().map(|&x| f16::from_f32(x)).collect(),
            v.iter().map(|&x| bf16::from_f32(x)).collect(),
        )
    }

    fn roundtrip(t: Tensor) {
        let bytes = encode_npy(&t).unwrap();
        let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(header_end % 64, 0, "header padded to 64 bytes");
        assert_eq!(parse_npy(&bytes).unwrap(), t);
    }

    #[test]
    fn roundtrips_every_dtype() {
        let (h, b) = halves(&[1.5, -2.0, 0.25, 7.0]);
        roundtrip(Tensor::from_vec(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.5]).unwrap());
        roundtrip(Tensor::from_vec(&[3], vec![1.0f64, -2.0, 3.0]).unwrap());
        roundtrip(Tensor::from_vec(&[4], h).unwrap());
        roundtrip(Tensor::from_vec(&[2, 2], b).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![-3i8, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![200u8, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![-300i16, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![60000u16, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[1, 2], vec![-7i32, 1 << 20]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![u32::MAX, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[2, 1], vec![i64::MIN, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec![u64::MAX, 4]).unwrap());
        roundtrip(Tensor::from_vec(&[3], vec![true, false, true]).unwrap());
        roundtrip(Tensor::from_vec(&[2], vec!["héllo".to_string(), String::new()]).unwrap());
        roundtrip(Tensor::scalar(3.5f32));
        roundtrip(Tensor::zeros(DataType::F32, &[0, 3]));
    }

    #[test]
    fn reads_numpy_written_headers() {
        // What `np.save` writes for np.arange(3, dtype='>i4') (big endian).
        let header = "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }";
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        for v in [0i32, 1, 2] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let t = parse_npy(&f).unwrap();
        assert_eq!(t, Tensor::from_vec(&[3], vec![0i32, 1, 2]).unwrap());

        // Version 2.0 with double quotes and no trailing comma.
        let header = "{\"descr\": \"<f2\", \"fortran_order\": False, \"shape\": (2, 1)}\n";
        let mut f = b"\x93NUMPY\x02\x00".to_vec();
        f.extend_from_slice(&(header.len() as u32).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(&f16::from_f32(1.5).to_le_bytes());
        f.extend_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        let t = parse_npy(&f).unwrap();
        assert_eq!(t.shape(), &[2, 1]);
        assert_eq!(t.to_f64_vec().unwrap(), vec![1.5, -1.0]);
    }

    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn refuses_bad_files_with_clear_errors() {
        let err = |b: &[u8]| format!("{:#}", parse_npy(b).unwrap_err());
        assert!(err(b"not a numpy file").contains("magic"));
        let fortran = with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
            &[0; 4],
        );
        assert!(err(&fortran).contains("Fortran"));
        let short = with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
            &[0; 8],
        );
        assert!(err(&short).contains("truncated"));
        let obj = with_header(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        assert!(err(&obj).contains("object"));
        let cplx = with_header(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        assert!(err(&cplx).contains("unsupported element type '<c8'"));
        let bad = with_header("{'descr': '<f4', 'shape': (1,, }", &[0; 4]);
        assert!(err(&bad).contains("malformed"));
        let huge = with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
            &[],
        );
        assert!(err(&huge).contains("too large"));
        let mut cut = encode_npy(&Tensor::scalar(1.0f32)).unwrap();
        cut.truncate(30);
        assert!(err(&cut).contains("header claims"));
    }
}
