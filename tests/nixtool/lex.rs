//! Tokens for the small Nix parser in parse.rs: identifiers, punctuation, and opaque strings
//! (plain, indented, paths and numbers), with comments and `${...}` parts inside strings skipped.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Id(String),
    Str,
    P(&'static str),
}

pub const PUNCT: [&str; 31] = [
    "...", "${", "//", "++", "==", "!=", "<=", ">=", "&&", "||", "->", "{", "}", "[", "]", "(",
    ")", ";", "=", ".", ":", ",", "@", "?", "+", "-", "*", "!", "<", ">", "/",
];

pub fn lex(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let (mut i, mut out) = (0, Vec::new());
    lex_until(b, &mut i, &mut out, false);
    out
}

/// Lexes tokens; with `interp` it stops after the `}` closing a `${`.
fn lex_until(b: &[u8], i: &mut usize, out: &mut Vec<Tok>, interp: bool) {
    let mut depth = 0usize;
    while *i < b.len() {
        let c = b[*i];
        let rest = &b[*i..];
        if c.is_ascii_whitespace() {
            *i += 1;
        } else if c == b'#' {
            while *i < b.len() && b[*i] != b'\n' {
                *i += 1;
            }
        } else if rest.starts_with(b"/*") {
            *i += 2;
            while *i + 1 < b.len() && &b[*i..*i + 2] != b"*/" {
                *i += 1;
            }
            *i += 2;
        } else if c == b'"' {
            *i += 1;
            skip_string(b, i, false);
            out.push(Tok::Str);
        } else if rest.starts_with(b"''") {
            *i += 2;
            skip_string(b, i, true);
            out.push(Tok::Str);
        } else if rest.starts_with(b"./") || rest.starts_with(b"../") {
            while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b"._/+-".contains(&b[*i])) {
                *i += 1;
            }
            out.push(Tok::Str);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = *i;
            while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b"_'-".contains(&b[*i])) {
                *i += 1;
            }
            out.push(Tok::Id(String::from_utf8_lossy(&b[s..*i]).into()));
        } else if c.is_ascii_digit() {
            while *i < b.len() && (b[*i].is_ascii_digit() || b[*i] == b'.') {
                *i += 1;
            }
            out.push(Tok::Str);
        } else {
            let p = PUNCT
                .iter()
                .find(|p| rest.starts_with(p.as_bytes()))
                .copied()
                .unwrap_or_else(|| panic!("unexpected character `{}`", c as char));
            *i += p.len();
            match p {
                "{" | "${" => depth += 1,
                "}" if interp && depth == 0 => return,
                "}" => depth -= 1,
                _ => {}
            }
            out.push(Tok::P(p));
        }
    }
}

/// Skips a string body (the opening quote already consumed), including `${...}` parts.
fn skip_string(b: &[u8], i: &mut usize, indented: bool) {
    while *i < b.len() {
        let rest = &b[*i..];
        if indented
            && (rest.starts_with(b"'''") || rest.starts_with(b"''$") || rest.starts_with(b"''\\"))
        {
            *i += 3;
        } else if indented && rest.starts_with(b"''") {
            *i += 2;
            return;
        } else if !indented && rest[0] == b'\\' {
            *i += 2;
        } else if !indented && rest[0] == b'"' {
            *i += 1;
            return;
        } else if rest.starts_with(b"${") {
            *i += 2;
            lex_until(b, i, &mut Vec::new(), true);
        } else {
            *i += 1;
        }
    }
}
