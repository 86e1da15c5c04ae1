//! Splits a kernel command line the way Linux does (`next_arg` in lib/cmdline.c, `parse_args`
//! in kernel/params.c), so the agent sees exactly the parameters the kernel saw.
//!
//! Rules: whitespace separates arguments except inside double quotes; a quote toggles quoting
//! wherever it appears, so `key="a b"` is one argument; a quote that opens the value (or the
//! whole argument) is removed together with a quote that ends the argument, other quotes stay;
//! there are no escapes; a quote that is never closed runs to the end of the line; a bare `--`
//! ends the kernel's parameters (what follows is for init). Whitespace is ASCII (space, tab,
//! newline, vertical tab, form feed, carriage return): Linux's ctype also counts byte 0xA0,
//! which in UTF-8 only occurs inside multi-byte characters, kept whole here.

use crate::agent::ladder::cmdline::CmdlineError;

/// One parameter as the kernel reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// Name: everything before the first `=` (after removing an opening quote).
    pub key: String,
    /// Value after the first `=`, quotes removed as Linux removes them; `None` for a bare key.
    pub value: Option<String>,
    /// Byte offset of the argument in the line.
    pub at: usize,
    /// Byte offset of a double quote that is never closed: the argument ran to the end.
    pub open_quote: Option<usize>,
}

/// The parameters before any `--`, and the arguments after it (init's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    pub params: Vec<Arg>,
    pub init_args: Vec<Arg>,
}

/// Whitespace as Linux's `isspace`, restricted to ASCII.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Reads one argument starting at `start` (not a space); returns it and where the next starts.
fn next_arg(line: &str, start: usize) -> (Arg, usize) {
    let b = line.as_bytes();
    let quoted = b[start] == b'"';
    let body = if quoted { start + 1 } else { start };
    let mut in_quote = quoted;
    let mut last_open = quoted.then_some(start);
    let mut equals = None;
    let mut end = body;
    while end < b.len() {
        let c = b[end];
        if is_space(c) && !in_quote {
            break;
        }
        // Linux takes the first `=` after the argument's first byte.
        if equals.is_none() && c == b'=' && end > body {
            equals = Some(end);
        }
        if c == b'"' {
            in_quote = !in_quote;
            if in_quote {
                last_open = Some(end);
            }
        }
        end += 1;
    }
    // The argument's bytes and which of them are dropped, as next_arg writes its NULs.
    let mut stop = end;
    let (key, value) = match equals {
        None => {
            if quoted && end > body && b[end - 1] == b'"' {
                stop = end - 1;
            }
            (&line[body..stop], None)
        }
        Some(eq) => {
            let mut v = eq + 1;
            if v < end && b[v] == b'"' {
                v += 1;
                if end > v && b[end - 1] == b'"' {
                    stop = end - 1;
                }
            }
            if quoted && stop == end && end > body && end > v && b[end - 1] == b'"' {
                stop = end - 1;
            }
            (&line[body..eq], Some(line[v..stop.max(v)].to_string()))
        }
    };
    let arg = Arg {
        key: key.to_string(),
        value,
        at: start,
        open_quote: if in_quote { last_open } else { None },
    };
    (arg, end)
}

/// Splits the whole line; never fails (Linux accepts every line).
pub fn split(line: &str) -> Split {
    let b = line.as_bytes();
    let mut out = Split::default();
    let mut i = 0;
    let mut after_dashes = false;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return out;
        }
        let (arg, next) = next_arg(line, i);
        i = next;
        if !after_dashes && arg.key == "--" && arg.value.is_none() {
            after_dashes = true;
        } else if after_dashes {
            out.init_args.push(arg);
        } else {
            out.params.push(arg);
        }
    }
}

/// Splits a command line into `(key, value)` pairs as Linux does ([`split`]). Only a broken
/// `kateskit.*` argument is an error: one whose quote is never closed, one swallowed by another
/// argument's unclosed quote, or one placed after `--` (an argument of init, not of the kernel).
pub fn checked(line: &str, src: &str) -> Result<Vec<(String, Option<String>)>, CmdlineError> {
    let s = split(line);
    for a in &s.params {
        let Some(at) = a.open_quote else { continue };
        if a.key.starts_with("kateskit.") {
            return Err(CmdlineError::Quote {
                src: src.into(),
                at,
                key: a.key.clone(),
            });
        }
        let keys: Vec<String> = line[at + 1..]
            .split(|c: char| c.is_ascii() && is_space(c as u8))
            .map(|t| t.trim_start_matches('"'))
            .filter(|t| t.starts_with("kateskit."))
            .map(|t| t.split('=').next().unwrap_or(t).to_string())
            .collect();
        if !keys.is_empty() {
            return Err(CmdlineError::Swallowed {
                src: src.into(),
                at,
                arg: a.key.clone(),
                keys: keys.join(", "),
            });
        }
    }
    if let Some(a) = s.init_args.iter().find(|a| a.key.starts_with("kateskit.")) {
        return Err(CmdlineError::AfterInit {
            src: src.into(),
            key: a.key.clone(),
        });
    }
    Ok(s.params.into_iter().map(|a| (a.key, a.value)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(line: &str) -> Vec<(String, Option<String>)> {
        split(line)
            .params
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect()
    }

    fn p(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn quotes_group_and_are_removed_where_linux_removes_them() {
        assert_eq!(
            kv(r#"a="b c" "d=e f" g=h"i j" k="l"m bare"#),
            vec![
                p("a", Some("b c")),
                p("d", Some("e f")),
                p("g", Some(r#"h"i j""#)),
                p("k", Some(r#"l"m"#)),
                p("bare", None),
            ]
        );
        assert_eq!(
            kv(r#"x="" y=" z"#),
            vec![p("x", Some("")), p("y", Some(" z"))]
        );
        assert_eq!(
            kv("\t a=1\n\x0bb=2 \r"),
            vec![p("a", Some("1")), p("b", Some("2"))]
        );
        assert_eq!(kv("a==b =c"), vec![p("a", Some("=b")), p("=c", None)]);
    }

    #[test]
    fn an_unclosed_quote_runs_to_the_end_of_the_line() {
        let s = split(r#"console=ttyS0 foo="bar baz kateskit.role=agent"#);
        assert_eq!(s.params.len(), 2);
        assert_eq!(s.params[1].key, "foo");
        assert_eq!(
            s.params[1].value.as_deref(),
            Some("bar baz kateskit.role=agent")
        );
        assert_eq!(s.params[1].open_quote, Some(18));
        assert_eq!(s.params[0].open_quote, None);
        let s = split(r#""kateskit.a=1 b"#);
        assert_eq!(s.params[0].key, "kateskit.a");
        assert_eq!(s.params[0].open_quote, Some(0));
    }

    #[test]
    fn unrelated_broken_quote_ignored() {
        let kv = |l: &str| checked(l, "test").unwrap();
        assert_eq!(
            kv(r#"kateskit.role=agent kateskit.name="n 1" console=ttyS0 foo="bar baz"#),
            vec![
                p("kateskit.role", Some("agent")),
                p("kateskit.name", Some("n 1")),
                p("console", Some("ttyS0")),
                p("foo", Some("bar baz")),
            ]
        );
        // init's own arguments after `--` are not the agent's concern.
        assert_eq!(
            kv("kateskit.role=agent -- single x=\"y"),
            vec![p("kateskit.role", Some("agent"))]
        );
    }

    #[test]
    fn double_dash_ends_the_kernel_parameters() {
        let s = split("a=1 -- kateskit.role=agent single");
        assert_eq!(s.params.len(), 1);
        assert_eq!(s.init_args.len(), 2);
        assert_eq!(s.init_args[0].key, "kateskit.role");
    }
}
