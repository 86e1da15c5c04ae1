//! What may be shown of a kernel argument, a URL or a message that might quote a secret.
//!
//! One rule for kernel arguments, used wherever one is displayed (agent errors and status,
//! `image inspect`): a `kateskit.*` argument whose key names a secret in any form shows
//! `key=<redacted>`. A key names a secret when its path lies under the NodeConfig's `secrets`
//! (`kateskit.secrets.token`, `kateskit.secrets[token]`, `kateskit.secrets=`), when it is an
//! alias of such a path (`kateskit.token`), or when any segment is the name of a `secrets`
//! field (a misplaced `kateskit.agent_token`). Both lists come from the model and the alias
//! table. URLs show neither userinfo nor query nor fragment.

use std::sync::OnceLock;

use crate::secret::REDACTED;

/// Top-level key of the secret material in a NodeConfig.
pub const SECRETS_KEY: &str = "secrets";

/// Field names of `NodeSecrets`, read from its generated schema.
fn secret_fields() -> &'static [String] {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let schema = schemars::schema_for!(crate::nodecfg::NodeSecrets);
        schema
            .schema
            .object
            .map(|o| o.properties.keys().cloned().collect())
            .unwrap_or_default()
    })
}

/// Splits a key into its segments: `a.b[c.d]` → a, b, c.d (lenient: never fails).
fn segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' | ']' => out.push(std::mem::take(&mut cur)),
            '[' => {
                out.push(std::mem::take(&mut cur));
                out.push(chars.by_ref().take_while(|&c| c != ']').collect());
            }
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

/// True if a config path (`secrets.token`, `secrets[token]`, `secrets`) holds secret material.
pub fn is_secret_path(path: &str) -> bool {
    let segs = segments(&path.to_ascii_lowercase());
    segs.first().is_some_and(|s| s == SECRETS_KEY)
        || segs.iter().any(|s| secret_fields().iter().any(|f| f == s))
}

/// True if the kernel argument key (`kateskit.token`, `kateskit.secrets.agent_token`, ...)
/// carries a secret value.
pub fn is_secret_karg_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("kateskit.") else {
        return false;
    };
    let rest = rest.strip_suffix("[]").unwrap_or(rest);
    let first = segments(rest).into_iter().next().unwrap_or_default();
    let alias = crate::agent::ladder::cmdline::ALIASES
        .iter()
        .find(|(a, _)| *a == rest || *a == first)
        .map(|(_, full)| *full);
    is_secret_path(rest) || alias.is_some_and(is_secret_path)
}

/// One kernel argument as it may be shown.
pub fn karg(arg: &str) -> String {
    match arg.split_once('=') {
        Some((k, _)) if is_secret_karg_key(k) => format!("{k}={REDACTED}"),
        Some((k, v)) => format!("{k}={}", text(v)),
        None => arg.to_string(),
    }
}

/// Every kernel argument of a list, as they may be shown.
pub fn kargs(args: &[String]) -> Vec<String> {
    args.iter().map(|a| karg(a)).collect()
}

/// Ends a URL or an argument inside free text. Not `,`: a query may hold one, and hiding a
/// trailing comma costs less than showing half a query.
fn url_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')' | ']' | '}')
}

/// A URL with userinfo, query and fragment replaced: `https://***@host/path?***`.
pub fn url(u: &str) -> String {
    let Some(at) = u.find("://") else {
        return u.to_string();
    };
    let (scheme, rest) = u.split_at(at + 3);
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(auth_end);
    let host = match auth.rfind('@') {
        Some(i) => format!("***@{}", &auth[i + 1..]),
        None => auth.to_string(),
    };
    let (path, after) = match tail.find(['?', '#']) {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let mut out = format!("{scheme}{host}{path}");
    if after.starts_with('?') {
        out.push_str("?***");
    }
    if after.contains('#') {
        out.push_str("#***");
    }
    out
}

/// Free text with every URL redacted and every secret kernel argument masked.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = next_token(rest) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let karg_word = rest.starts_with("kateskit.");
        // A key may hold `[...]`; only whitespace and quotes end an argument.
        let end = if karg_word {
            rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
        } else {
            rest.find(url_end)
        }
        .unwrap_or(rest.len());
        let word = &rest[..end];
        match word.split_once('=') {
            Some((k, _)) if karg_word && is_secret_karg_key(k) => {
                // The value goes up to the next whitespace, or past its closing quote.
                out.push_str(&format!("{k}={REDACTED}"));
                let mut from = k.len() + 1;
                if rest[from..].starts_with('"') {
                    from += 1 + rest[from + 1..]
                        .find('"')
                        .map_or(rest.len() - from - 1, |q| q + 1);
                }
                let skip = rest[from..]
                    .find(char::is_whitespace)
                    .map_or(rest.len(), |j| from + j);
                rest = &rest[skip..];
            }
            _ => {
                out.push_str(&url(word));
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Start of the next URL or `kateskit.` argument in `s`.
fn next_token(s: &str) -> Option<usize> {
    let k = s.find("kateskit.");
    let u = s.find("://").map(|i| {
        // The scheme starts after the last character that cannot be in one (of any width).
        s[..i]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(j, c)| j + c.len_utf8())
    });
    match (k, u) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `s` with each of the given secret values (non-empty) replaced by [`REDACTED`].
pub fn values(s: &str, secrets: &[&str]) -> String {
    let mut out = s.to_string();
    for v in secrets.iter().filter(|v| v.len() >= 4) {
        out = out.replace(*v, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_key_is_masked() {
        for a in [
            "kateskit.token=K10x::server:LEAK",
            "kateskit.secrets=LEAK",
            "kateskit.secrets.token=LEAK",
            "kateskit.secrets.agent_token=LEAK",
            "kateskit.secrets[token]=LEAK",
            "kateskit.secrets..token=LEAK",
            "kateskit.agent_token=LEAK",
            "kateskit.token[]=LEAK",
            "KATESKIT.Secrets.Node_Password=LEAK",
        ] {
            let shown = karg(a);
            assert!(!shown.contains("LEAK"), "{a} -> {shown}");
            assert!(shown.ends_with("=<redacted>"), "{shown}");
        }
        assert_eq!(karg("kateskit.role=agent"), "kateskit.role=agent");
        assert_eq!(karg("console=ttyS0"), "console=ttyS0");
        assert_eq!(karg("kateskit.agent.debug"), "kateskit.agent.debug");
    }

    #[test]
    fn every_secrets_field_is_known() {
        for f in ["token", "agent_token", "node_password", "ingress_ca_key"] {
            assert!(secret_fields().iter().any(|x| x == f), "{f}");
        }
    }

    #[test]
    fn a_multibyte_character_before_a_scheme_is_kept_whole() {
        assert_eq!(text("x\u{48b}ps://u:LEAK@h/p"), "x\u{48b}ps://***@h/p");
        assert_eq!(text("\u{48b}://h"), "\u{48b}://h");
    }

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        assert_eq!(
            url("https://u:LEAK@host:8443/p/x.json?t=LEAK#LEAK"),
            "https://***@host:8443/p/x.json?***#***"
        );
        assert_eq!(url("http://host/p"), "http://host/p");
        assert_eq!(
            karg("kateskit.config_url=https://u:LEAK@h/c?k=LEAK"),
            "kateskit.config_url=https://***@h/c?***"
        );
    }

    #[test]
    fn free_text_is_scrubbed() {
        let t = "kernel argument kateskit.secrets=LEAK1 (from /proc/cmdline): error sending \
                 request for url (https://a:LEAK2@127.0.0.1:9/x?LEAK3): refused, \
                 kateskit.token=LEAK4, kateskit.role=agent";
        let s = text(t);
        assert!(!s.contains("LEAK"), "{s}");
        assert!(s.contains("(https://***@127.0.0.1:9/x?***)"), "{s}");
        assert!(s.contains("kateskit.role=agent"), "{s}");
        let s = text(
            "kernel argument kateskit.secrets[token]=LEAK (from x), kateskit.token=\"a LEAK\"",
        );
        assert!(!s.contains("LEAK"), "{s}");
        let s = text("GET https://h/p?a=LEAK1,LEAK2 failed");
        assert_eq!(s, "GET https://h/p?*** failed");
        assert_eq!(values("a K10abc b", &["K10abc", ""]), "a <redacted> b");
    }
}
