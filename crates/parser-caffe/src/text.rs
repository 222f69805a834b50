//! Reading a `.prototxt`: protobuf text format for `caffe.NetParameter`.
//!
//! The text is first read into a plain tree of fields by a small tokenizer, so that
//! spellings real prototxts use but strict readers refuse (lists without a colon, `<...>`
//! blocks, trailing separators) are normalized, and fields that `caffe.proto` does not
//! declare (for example the parameters of custom layers) are set aside and reported with
//! their layer instead of failing the whole file. The normalized text is then parsed by
//! prost-reflect against the descriptor of `caffe.proto` and transcoded into the prost types.

use crate::pb;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};
use std::fmt::Write as _;
use std::sync::OnceLock;

/// A field the prototxt sets but `caffe.proto` does not declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnknownField {
    /// Index of the enclosing top-level `layer` (current form) or `layers` (legacy form)
    /// entry, and whether it is legacy; `None` for network-level fields.
    pub layer: Option<(bool, usize)>,
    /// Dotted path of the field inside the layer (or network).
    pub path: String,
    /// 1-based line of the field.
    pub line: usize,
}

/// A parsed prototxt.
pub(crate) struct ParsedText {
    pub net: pb::NetParameter,
    pub unknown: Vec<UnknownField>,
}

fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(pb::DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Parse prototxt text into a `NetParameter`.
pub(crate) fn parse_net(text: &str) -> Result<ParsedText, String> {
    let pool = pool()?;
    let desc = pool
        .get_message_by_name("caffe.NetParameter")
        .ok_or("caffe.NetParameter is missing from the descriptor set")?;
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let fields = p.fields(None)?;
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let (mut n_layer, mut n_layers) = (0usize, 0usize);
    for f in &fields {
        let layer = match f.name.as_str() {
            "layer" => {
                n_layer += 1;
                Some((false, n_layer - 1))
            }
            "layers" => {
                n_layers += 1;
                Some((true, n_layers - 1))
            }
            _ => None,
        };
        emit_field(f, &desc, layer, "", &mut out, &mut unknown);
    }
    let msg = DynamicMessage::parse_text_format(desc, &out).map_err(|e| e.to_string())?;
    let net = msg
        .transcode_to::<pb::NetParameter>()
        .map_err(|e| e.to_string())?;
    Ok(ParsedText { net, unknown })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let (mut i, mut line) = (0usize, 1usize);
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        return Err(format!("line {line}: string not closed"));
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(format!("line {line}: string not closed"));
                }
                i += 1;
                out.push((Tok::Str(text[start..i].to_string()), line));
            }
            b'{' | b'}' | b'[' | b']' | b'<' | b'>' | b':' | b',' | b';' => {
                out.push((Tok::Punct(c as char), line));
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || b"_.+-".contains(&c) => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_.+-".contains(&b[i])) {
                    i += 1;
                }
                out.push((Tok::Word(text[start..i].to_string()), line));
            }
            other => {
                return Err(format!(
                    "line {line}: unexpected character '{}'",
                    other.escape_ascii()
                ));
            }
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Val {
    Scalar(String),
    Msg(Vec<Field>),
    List(Vec<Val>),
}

#[derive(Debug)]
struct Field {
    name: String,
    line: usize,
    value: Val,
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
}

/// Nesting deeper than this is refused (untrusted input must not overflow the stack).
const MAX_DEPTH: usize = 100;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(1, |t| t.1)
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.is_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("line {}: expected '{c}'", self.line()))
        }
    }

    /// Fields until `close` (or the end of the input when `None`).
    fn fields(&mut self, close: Option<char>) -> Result<Vec<Field>, String> {
        self.fields_at(close, 0)
    }

    fn fields_at(&mut self, close: Option<char>, depth: usize) -> Result<Vec<Field>, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "line {}: nested deeper than {MAX_DEPTH}",
                self.line()
            ));
        }
        let mut out = Vec::new();
        loop {
            match (self.peek(), close) {
                (None, None) => return Ok(out),
                (None, Some(c)) => return Err(format!("unexpected end of file, expected '{c}'")),
                (Some(Tok::Punct(p)), Some(c)) if *p == c => {
                    self.pos += 1;
                    return Ok(out);
                }
                (Some(Tok::Punct(';' | ',')), _) => self.pos += 1,
                (Some(Tok::Word(w)), _) => {
                    let (name, line) = (w.clone(), self.line());
                    self.pos += 1;
                    let colon = self.is_punct(':');
                    if colon {
                        self.pos += 1;
                    }
                    let value = self.value(depth, colon)?;
                    out.push(Field { name, line, value });
                }
                (Some(t), _) => {
                    return Err(format!(
                        "line {}: expected a field name, found {t:?}",
                        self.line()
                    ));
                }
            }
        }
    }

    fn value(&mut self, depth: usize, colon: bool) -> Result<Val, String> {
        match self.peek() {
            Some(Tok::Punct('{')) => {
                self.pos += 1;
                Ok(Val::Msg(self.fields_at(Some('}'), depth + 1)?))
            }
            Some(Tok::Punct('<')) => {
                self.pos += 1;
                Ok(Val::Msg(self.fields_at(Some('>'), depth + 1)?))
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.is_punct(']') {
                    if self.peek().is_none() {
                        return Err("unexpected end of file in a list".into());
                    }
                    items.push(self.value(depth + 1, true)?);
                    if self.is_punct(',') {
                        self.pos += 1;
                    } else if !self.is_punct(']') {
                        return Err(format!("line {}: expected ',' or ']'", self.line()));
                    }
                }
                self.expect(']')?;
                Ok(Val::List(items))
            }
            Some(Tok::Word(w)) if colon => {
                let w = w.clone();
                self.pos += 1;
                Ok(Val::Scalar(w))
            }
            Some(Tok::Str(_)) if colon => {
                // Adjacent strings concatenate.
                let mut s = String::new();
                while let Some(Tok::Str(x)) = self.peek() {
                    s.push_str(x);
                    s.push(' ');
                    self.pos += 1;
                }
                Ok(Val::Scalar(s.trim_end().to_string()))
            }
            _ => Err(format!("line {}: expected a value", self.line())),
        }
    }
}

fn emit_field(
    f: &Field,
    desc: &MessageDescriptor,
    layer: Option<(bool, usize)>,
    prefix: &str,
    out: &mut String,
    unknown: &mut Vec<UnknownField>,
) {
    let path = if prefix.is_empty() {
        f.name.clone()
    } else {
        format!("{prefix}.{}", f.name)
    };
    let Some(field) = desc.get_field_by_name(&f.name) else {
        tracing::debug!(field = %path, line = f.line, "prototxt field not in caffe.proto");
        unknown.push(UnknownField {
            layer,
            path: if layer.is_some() {
                path.split_once('.')
                    .map_or(path.clone(), |p| p.1.to_string())
            } else {
                path
            },
            line: f.line,
        });
        return;
    };
    let sub = match field.kind() {
        Kind::Message(m) => Some(m),
        _ => None,
    };
    emit_value(&f.name, &f.value, sub.as_ref(), layer, &path, out, unknown);
}

fn emit_value(
    name: &str,
    v: &Val,
    sub: Option<&MessageDescriptor>,
    layer: Option<(bool, usize)>,
    path: &str,
    out: &mut String,
    unknown: &mut Vec<UnknownField>,
) {
    match v {
        Val::Scalar(s) => {
            let _ = writeln!(out, "{name}: {s}");
        }
        Val::List(items) => {
            for item in items {
                emit_value(name, item, sub, layer, path, out, unknown);
            }
        }
        Val::Msg(fields) => {
            let _ = writeln!(out, "{name} {{");
            // A non-message field stays empty so the strict reader reports the kind.
            if let Some(d) = sub {
                for f in fields {
                    emit_field(f, d, layer, path, out, unknown);
                }
            }
            out.push_str("}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_unknown_fields() {
        let t = r#"
            name: "n"  # comment
            input: "data" input_dim: [1, 3, 4, 4];
            layer < name: 'c' type: "Convolution" bottom: "data" top: "c"
              convolution_param { num_output: 2 kernel_size: 3 pad [1] }
              my_param { x: 1 } >
            layers { name: "r" type: RELU bottom: "c" top: "c" }
        "#;
        let p = parse_net(t).unwrap();
        assert_eq!(p.net.input_dim, vec![1, 3, 4, 4]);
        assert_eq!(
            p.net.layer[0].convolution_param.as_ref().unwrap().pad,
            vec![1]
        );
        assert_eq!(
            p.net.layers[0].r#type(),
            pb::v1_layer_parameter::LayerType::Relu
        );
        assert_eq!(p.unknown.len(), 1);
        assert_eq!(p.unknown[0].layer, Some((false, 0)));
        assert_eq!(p.unknown[0].path, "my_param");
        assert!(parse_net("layer { name: \"x\" ").is_err());
        assert!(parse_net("layer { name: 3 }").is_err());
    }
}
