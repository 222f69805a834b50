//! Parsing `config.pbtxt` (protobuf text format of `inference.ModelConfig`) through
//! prost-reflect, with the list-of-messages form Triton repositories use.
//!
//! Triton's configs write repeated message fields as `input [ { ... }, { ... } ]`, without a
//! colon after the field name. protobuf's own text parser accepts that; prost-reflect 0.16
//! wants `input: [ ... ]`. A small token-aware pass inserts the colon (leaving strings and
//! `#` comments untouched) and keeps the inserted offsets so error positions still point into
//! the original file.

use super::ConfigError;
use super::descriptor::model_config_descriptor;
use crate::proto::inference::ModelConfig;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use std::collections::HashMap;
use std::path::Path;

/// Parse the text of a `config.pbtxt`. `origin` names the file in error messages.
///
/// Unknown fields, values of the wrong type, unknown enum values and malformed text give
/// [`ConfigError::Parse`] with the file, line, column and the path of the field being set.
pub fn parse_config_text(text: &str, origin: &Path) -> Result<ModelConfig, ConfigError> {
    let tokens = tokenize(text);
    let (fixed, inserted) = insert_list_colons(text, &tokens);
    let desc = model_config_descriptor();
    let message = DynamicMessage::parse_text_format(desc.clone(), &fixed).map_err(|e| {
        // Errors without a position are about the end of the input: they point there and
        // name the message left open rather than its last field.
        let at = error_offset(&e).map(|o| to_original_offset(o, &inserted));
        let offset = at.unwrap_or(text.len());
        let (line, column) = line_column(text, offset);
        let field = field_path_at(&tokens, offset, &desc, at.is_none());
        ConfigError::Parse {
            file: origin.to_path_buf(),
            line: Some(line),
            column: Some(column),
            field,
            message: e.to_string(),
        }
    })?;
    message
        .transcode_to::<ModelConfig>()
        .map_err(|e| ConfigError::Parse {
            file: origin.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot convert the parsed configuration: {e}"),
        })
}

/// Read and parse a `config.pbtxt` file.
pub fn parse_config_file(path: &Path) -> Result<ModelConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    parse_config_text(&text, path)
}

/// A lexical token of protobuf text format, as far as the fix-up needs to know.
#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    /// Numbers, strings and anything else that is a value.
    Other,
    Punct(u8),
}

/// Split `text` into tokens with their byte offsets, skipping whitespace and `#` comments.
/// Strings (single or double quoted, with backslash escapes) become one token.
fn tokenize(text: &str) -> Vec<(usize, Tok<'_>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if b == b'"' || b == b'\'' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push((start, Tok::Other));
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Ident(&text[start..i])));
        } else if b.is_ascii_digit()
            || (b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'.'
                    || ((bytes[i] == b'+' || bytes[i] == b'-')
                        && matches!(bytes[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            out.push((start, Tok::Other));
        } else if b.is_ascii() {
            out.push((i, Tok::Punct(b)));
            i += 1;
        } else {
            // A non-ASCII character outside a string: let the real parser report it.
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push((i, Tok::Other));
            i += len;
        }
    }
    out
}

/// Insert `:` between a field name and a `[` that opens its list. Returns the fixed text and
/// the offsets (in the fixed text) of every inserted byte.
fn insert_list_colons(text: &str, tokens: &[(usize, Tok<'_>)]) -> (String, Vec<usize>) {
    let mut fixed = String::with_capacity(text.len() + 16);
    let mut inserted = Vec::new();
    let mut copied = 0;
    for pair in tokens.windows(2) {
        if let [(_, Tok::Ident(name)), (_, Tok::Punct(b'['))] = pair {
            let after_name = pair[0].0 + name.len();
            fixed.push_str(&text[copied..after_name]);
            inserted.push(fixed.len());
            fixed.push(':');
            copied = after_name;
        }
    }
    fixed.push_str(&text[copied..]);
    (fixed, inserted)
}

/// Map an offset in the fixed text back to the original text.
fn to_original_offset(offset: usize, inserted: &[usize]) -> usize {
    offset - inserted.iter().filter(|&&p| p < offset).count()
}

/// Byte offset of a prost-reflect parse error, from its miette label.
fn error_offset(e: &prost_reflect::text_format::ParseError) -> Option<usize> {
    use miette::Diagnostic;
    e.labels()?.next().map(|l| l.offset())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A field name just read, whose value is being parsed.
#[derive(Clone)]
struct Pending {
    name: String,
    /// Path of the field without an element index.
    base: String,
    /// Descriptor of the field's message type, when it has one.
    child: Option<MessageDescriptor>,
    /// Whether elements of this field get an index (repeated message fields and maps).
    indexed: bool,
}

/// One open message while walking the text.
struct Frame {
    desc: Option<MessageDescriptor>,
    path: String,
    /// Elements seen so far of each indexed field of this message.
    counts: HashMap<String, usize>,
    /// The field whose value this message is.
    owner: Option<Pending>,
}

/// The path (e.g. `dynamic_batching.priority_queue_policy[0].value.timeout_action`) of the
/// field being set at byte `offset` of the original text.
fn field_path_at(
    tokens: &[(usize, Tok<'_>)],
    offset: usize,
    root: &MessageDescriptor,
    innermost_message: bool,
) -> Option<String> {
    let mut stack = vec![Frame {
        desc: Some(root.clone()),
        path: String::new(),
        counts: HashMap::new(),
        owner: None,
    }];
    let mut current: Option<Pending> = None;
    // Stack depth at which each open `[` list was opened.
    let mut lists: Vec<usize> = Vec::new();
    for (i, (pos, tok)) in tokens.iter().enumerate() {
        if *pos > offset {
            break;
        }
        let next = tokens.get(i + 1).map(|t| &t.1);
        match tok {
            Tok::Ident(name) if matches!(next, Some(Tok::Punct(b':' | b'{' | b'<' | b'['))) => {
                let frame = stack.last()?;
                let field = frame.desc.as_ref().and_then(|d| d.get_field_by_name(name));
                let child = field.as_ref().and_then(|f| match f.kind() {
                    Kind::Message(m) => Some(m),
                    _ => None,
                });
                let indexed = field.as_ref().is_some_and(|f| f.is_map())
                    || (field.as_ref().is_some_and(|f| f.is_list()) && child.is_some());
                let base = if frame.path.is_empty() {
                    name.to_string()
                } else {
                    format!("{}.{name}", frame.path)
                };
                current = Some(Pending {
                    name: name.to_string(),
                    base,
                    child,
                    indexed,
                });
            }
            Tok::Punct(b'[') => lists.push(stack.len()),
            Tok::Punct(b']') => {
                lists.pop();
                current = None;
            }
            Tok::Punct(b'{' | b'<') => {
                let owner = current.take();
                let frame = stack.last_mut()?;
                let (path, desc) = match &owner {
                    Some(p) if p.indexed => {
                        let n = frame.counts.entry(p.name.clone()).or_insert(0);
                        let path = format!("{}[{n}]", p.base);
                        *n += 1;
                        (path, p.child.clone())
                    }
                    Some(p) => (p.base.clone(), p.child.clone()),
                    None => (frame.path.clone(), None),
                };
                stack.push(Frame {
                    desc,
                    path,
                    counts: HashMap::new(),
                    owner,
                });
            }
            Tok::Punct(b'}' | b'>') if stack.len() > 1 => {
                let frame = stack.pop()?;
                // Inside `field: [ {...}, {...} ]` the next `{` is the same field again.
                current = if lists.last() == Some(&stack.len()) {
                    frame.owner
                } else {
                    None
                };
            }
            _ => {}
        }
    }
    let frame = stack.last()?;
    if innermost_message {
        current = None;
    }
    match current {
        Some(p) if p.indexed => {
            let n = frame.counts.get(&p.name).copied().unwrap_or(0);
            Some(format!("{}[{n}]", p.base))
        }
        Some(p) => Some(p.base),
        None => Some(frame.path.clone()).filter(|p| !p.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(text: &str) -> (String, Vec<usize>) {
        insert_list_colons(text, &tokenize(text))
    }

    #[test]
    fn colons_are_inserted_only_after_field_names() {
        assert_eq!(fix("input [ { } ]").0, "input: [ { } ]");
        assert_eq!(fix("input[{}]").0, "input:[{}]");
        assert_eq!(fix("dims: [ 1 ]").0, "dims: [ 1 ]");
        assert_eq!(fix("a [ ] b [ ]").0, "a: [ ] b: [ ]");
        // Strings and comments are left alone, including quotes inside comments.
        let text = "name: \"x [ y\" # z [ 'q\n s: 'a \\' [' t [1]";
        assert_eq!(
            fix(text).0,
            "name: \"x [ y\" # z [ 'q\n s: 'a \\' [' t: [1]"
        );
    }

    #[test]
    fn offsets_map_back_to_the_original_text() {
        let (fixed, inserted) = fix("a [ 1 ] b [ 2 ]");
        assert_eq!(fixed, "a: [ 1 ] b: [ 2 ]");
        assert_eq!(inserted, [1, 10]);
        // `b` is at 9 in the fixed text and 8 in the original.
        assert_eq!(to_original_offset(9, &inserted), 8);
        // `2` is at 13 in the fixed text and 11 in the original.
        assert_eq!(to_original_offset(13, &inserted), 11);
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é: x", 3), (1, 3));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
