//! `TfIdfVectorizer`: counts (optionally IDF-weighted) of pooled n-grams, with skips.

use crate::ops::control::common::check_attrs;
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};
use std::collections::HashMap;

/// One token of an n-gram: an integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Token {
    Int(i64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

/// Extracts n-grams of length `min_gram_length..=max_gram_length` with up to
/// `max_skip_count` skipped items and counts those found in the pool.
#[derive(Debug)]
pub struct TfIdfVectorizer {
    mode: Mode,
    min_len: usize,
    max_len: usize,
    max_skip: usize,
    /// N-gram → output coordinate.
    pool: HashMap<Vec<Token>, usize>,
    out_size: usize,
    weights: Vec<f32>,
    strings: bool,
}

/// Build from the pool (`pool_int64s` or `pool_strings`), `ngram_counts`, `ngram_indexes`,
/// gram lengths, `max_skip_count`, `mode` and `weights`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let a = ctx.attrs;
    check_attrs(
        a,
        &[
            "max_gram_length",
            "max_skip_count",
            "min_gram_length",
            "mode",
            "ngram_counts",
            "ngram_indexes",
            "pool_int64s",
            "pool_strings",
            "weights",
        ],
    )?;
    let mode = match a.string_req("mode")?.as_str() {
        "TF" => Mode::Tf,
        "IDF" => Mode::Idf,
        "TFIDF" => Mode::TfIdf,
        other => return Err(Error::attr("mode", format!("unknown mode '{other}'"))),
    };
    let nonneg = |name: &str| -> Result<usize> {
        let v = a.int_req(name)?;
        if v < 0 {
            return Err(Error::attr(name, "must be >= 0"));
        }
        Ok(v as usize)
    };
    let (min_len, max_len, max_skip) = (
        nonneg("min_gram_length")?,
        nonneg("max_gram_length")?,
        nonneg("max_skip_count")?,
    );
    if min_len < 1 || max_len < min_len {
        return Err(Error::attr(
            "min_gram_length",
            "need 1 <= min_gram_length <= max_gram_length",
        ));
    }
    let (items, strings): (Vec<Token>, bool) =
        match (a.ints("pool_int64s")?, a.strings("pool_strings")?) {
            (Some(p), None) => (p.into_iter().map(Token::Int).collect(), false),
            (None, Some(p)) => (p.into_iter().map(Token::Str).collect(), true),
            _ => {
                return Err(Error::attr(
                    "pool_int64s",
                    "exactly one of pool_int64s and pool_strings must be given",
                ));
            }
        };
    let counts = a.ints_req("ngram_counts")?;
    let indexes = a.ints_req("ngram_indexes")?;
    if indexes.iter().any(|&i| i < 0) {
        return Err(Error::attr("ngram_indexes", "entries must be >= 0"));
    }
    let out_size = indexes.iter().max().map_or(0, |&m| m as usize + 1);
    let mut pool = HashMap::new();
    let mut gram_no = 0usize;
    for (k, &start) in counts.iter().enumerate() {
        let size = k + 1;
        let end = counts.get(k + 1).copied().unwrap_or(items.len() as i64);
        if start < 0 || end < start || end as usize > items.len() {
            return Err(Error::attr(
                "ngram_counts",
                "must be non-decreasing offsets into the pool",
            ));
        }
        let n = (end - start) as usize / size;
        for g in 0..n {
            let from = start as usize + g * size;
            if (min_len..=max_len).contains(&size) {
                let idx = *indexes.get(gram_no).ok_or_else(|| {
                    Error::attr(
                        "ngram_indexes",
                        "has fewer entries than the pool has n-grams",
                    )
                })?;
                pool.insert(items[from..from + size].to_vec(), idx as usize);
            }
            gram_no += 1;
        }
    }
    let weights = a.floats("weights")?.unwrap_or_default();
    Ok(Box::new(TfIdfVectorizer {
        mode,
        min_len,
        max_len,
        max_skip,
        pool,
        out_size,
        weights,
        strings,
    }))
}

impl TfIdfVectorizer {
    fn count_row(&self, row: &[Token], freq: &mut [i64]) {
        let mut start_len = self.min_len;
        for skip in 1..=self.max_skip + 1 {
            for s in 0..row.len() {
                for n in start_len..=self.max_len {
                    let last = s + skip * (n - 1);
                    if last >= row.len() {
                        break;
                    }
                    let gram: Vec<Token> = (0..n).map(|j| row[s + j * skip].clone()).collect();
                    if let Some(&o) = self.pool.get(&gram) {
                        freq[o] += 1;
                    }
                }
            }
            // Unigrams do not depend on the skip distance: count them once.
            if start_len == 1 {
                start_len = 2;
                if start_len > self.max_len {
                    break;
                }
            }
        }
    }
}

impl Op for TfIdfVectorizer {
    fn op_type(&self) -> &str {
        "TfIdfVectorizer"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let tokens: Vec<Token> = match x {
            Tensor::String(a) if self.strings => a.iter().cloned().map(Token::Str).collect(),
            Tensor::I32(_) | Tensor::I64(_) if !self.strings => {
                x.to_i64_vec()?.into_iter().map(Token::Int).collect()
            }
            other => {
                return Err(Error::dtype(format!(
                    "input type {} does not match the n-gram pool",
                    other.dtype()
                )));
            }
        };
        let (rows, cols, out_shape) = match *x.shape() {
            [] => (1, 1, vec![self.out_size]),
            [c] => (1, c, vec![self.out_size]),
            [b, c] if b > 0 => (b, c, vec![b, self.out_size]),
            _ => {
                return Err(Error::shape(format!(
                    "input must be [C] or [B, C], got {:?}",
                    x.shape()
                )));
            }
        };
        let total = rows
            .checked_mul(self.out_size)
            .ok_or_else(|| Error::input("the output size overflows"))?;
        let mut freq = vec![0i64; total];
        for r in 0..rows {
            let f = &mut freq[r * self.out_size..(r + 1) * self.out_size];
            self.count_row(&tokens[r * cols..(r + 1) * cols], f);
        }
        let w = |i: usize| self.weights.get(i % self.out_size.max(1)).copied();
        let y: Vec<f32> = freq
            .iter()
            .enumerate()
            .map(|(p, &f)| match self.mode {
                Mode::Tf => f as f32,
                Mode::Idf => {
                    if f > 0 {
                        if self.weights.is_empty() {
                            1.0
                        } else {
                            w(p).unwrap_or(0.0)
                        }
                    } else {
                        0.0
                    }
                }
                Mode::TfIdf => {
                    if self.weights.is_empty() {
                        f as f32
                    } else {
                        w(p).unwrap_or(0.0) * f as f32
                    }
                }
            })
            .collect();
        Ok(vec![(Tensor::from_vec(&out_shape, y)?)])
    }
}
