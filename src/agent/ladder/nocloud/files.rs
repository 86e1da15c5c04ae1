//! cloud-init `write_files` (cc_write_files.py): every documented encoding, YAML `!!binary`
//! content, owner, permissions, append and defer. Content is decoded here, so the agent's
//! write_files carry plain text or base64 of the final bytes only.

use std::io::Read;

use base64::Engine;
use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;

use super::{key_str, kind, Mapped};

/// The decoding steps of an `encoding` value, applied in order (cloud-init's `canonicalize_extraction`).
fn steps(enc: &str) -> Option<&'static [&'static str]> {
    Some(match enc.to_ascii_lowercase().as_str() {
        "gz" | "gzip" => &["gzip"],
        "gz+base64" | "gzip+base64" | "gz+b64" | "gzip+b64" => &["base64", "gzip"],
        "b64" | "base64" => &["base64"],
        "text/plain" => &[],
        _ => return None,
    })
}

fn gunzip(b: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .take(64 << 20)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// A mode as cloud-init's `decode_perms` reads it: an octal string, or a YAML integer (which
/// PyYAML reads as octal when written with a leading 0, so `0644` and `420` are the same mode).
fn permissions(v: &Yaml, src: &str) -> Result<u32, String> {
    let bad = || {
        format!(
            "{src}: permissions `{}` is not an octal mode like '0644'",
            super::to_json(v)
        )
    };
    let mode = match v {
        Yaml::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix("0o").unwrap_or(s);
            u32::from_str_radix(digits, 8).map_err(|_| bad())?
        }
        Yaml::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if mode > 0o7777 {
        return Err(bad());
    }
    Ok(mode)
}

/// One entry's bytes: YAML `!!binary` is base64-decoded by the YAML loader in cloud-init,
/// then the `encoding` steps run on the result.
fn content(it: &serde_yaml_ng::Mapping, binary: bool, src: &str) -> Result<Vec<u8>, String> {
    let raw: Vec<u8> = match it.get("content") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::String(s)) if binary => {
            let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| format!("{src}: !!binary content is not valid base64: {e}"))?
        }
        Some(Yaml::String(s)) => s.clone().into_bytes(),
        Some(Yaml::Number(n)) => n.to_string().into_bytes(),
        Some(Yaml::Bool(b)) => b.to_string().into_bytes(),
        Some(other) => {
            return Err(format!(
                "{src}: content must be text, found {}",
                kind(other)
            ))
        }
    };
    let enc = match it.get("encoding") {
        None | Some(Yaml::Null) => "text/plain".to_string(),
        Some(Yaml::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "{src}: encoding must be text, found {}",
                kind(other)
            ))
        }
    };
    let Some(steps) = steps(&enc) else {
        return Err(format!(
            "{src}: encoding `{enc}` is not one of b64, base64, gz, gzip, gz+b64, gzip+b64, gz+base64, gzip+base64, text/plain"
        ));
    };
    let mut data = raw;
    for step in steps {
        data = match *step {
            "base64" => {
                let clean: Vec<u8> = data
                    .into_iter()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .map_err(|e| format!("{src}: content is not valid base64 ({enc}): {e}"))?
            }
            _ => gunzip(&data)
                .map_err(|e| format!("{src}: content is not valid gzip ({enc}): {e}"))?,
        };
    }
    Ok(data)
}

/// Whether entry `i`'s content carries a `!!binary` tag in `tagged` (the document parsed after
/// [`super::local_binary_tags`]).
fn is_binary(tagged: Option<&Yaml>, i: usize) -> bool {
    let c = tagged.and_then(|t| t.get(i)).and_then(|e| e.get("content"));
    matches!(c, Some(Yaml::Tagged(t)) if t.tag == "binary")
}

/// Maps a `write_files` list to the agent's write_files entries; `tagged` is the same list
/// parsed with `!!binary` kept (see [`super::local_binary_tags`]).
pub fn map(v: &Yaml, tagged: Option<&Yaml>, src: &str) -> Result<Vec<Value>, String> {
    let Some(items) = v.as_sequence() else {
        return Err(format!(
            "{src}: expected a list of files, found {}",
            kind(v)
        ));
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let Some(it) = it.as_mapping() else {
            return Err(format!(
                "{src}[{i}]: expected a mapping with path and content"
            ));
        };
        let path = it
            .get("path")
            .and_then(Yaml::as_str)
            .ok_or_else(|| format!("{src}[{i}]: has no path"))?;
        let esrc = format!("{src}[{i}] ({path})");
        if let Some(k) = it.keys().map(key_str).find(|k| {
            ![
                "path",
                "content",
                "encoding",
                "owner",
                "permissions",
                "append",
                "defer",
            ]
            .contains(&k.as_str())
        }) {
            return Err(format!(
                "{esrc}: `{k}` is not supported (KatesKit writes inline content only); give the content inline"
            ));
        }
        let data = content(it, is_binary(tagged, i), &esrc)?;
        let mut f = match String::from_utf8(data) {
            Ok(text) => json!({"path": path, "content": text}),
            Err(e) => json!({
                "path": path,
                "content": base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                "encoding": "b64",
            }),
        };
        if let Some(p) = it.get("permissions").filter(|p| !p.is_null()) {
            f["permissions"] = json!(format!("{:04o}", permissions(p, &esrc)?));
        }
        match it.get("owner") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::String(o)) if o != "root:root" && o != "root" => f["owner"] = json!(o),
            Some(Yaml::String(_)) => {}
            Some(other) => {
                return Err(format!(
                    "{esrc}: owner must be `user:group`, found {}",
                    kind(other)
                ))
            }
        }
        for flag in ["append", "defer"] {
            match it.get(flag) {
                None | Some(Yaml::Null) | Some(Yaml::Bool(false)) => {}
                Some(Yaml::Bool(true)) => f[flag] = json!(true),
                Some(other) => {
                    return Err(format!(
                        "{esrc}: {flag} must be true or false, found {}",
                        kind(other)
                    ))
                }
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// Ties every mapped write_files entry to the drive's instance-id: it is written once per
/// instance, as cloud-init's per-instance `write_files` module is.
pub fn stamp_instance(m: &mut Mapped) {
    let Some(id) = m.get("agent", "instance_id").cloned() else {
        return;
    };
    if let Some(files) = m
        .layer
        .tree
        .pointer_mut("/agent/write_files")
        .and_then(Value::as_array_mut)
    {
        for f in files {
            f["instance_id"] = id.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(b: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn one(doc: &str) -> Result<Value, String> {
        let v: Yaml = serde_yaml_ng::from_str(doc).unwrap();
        let t: Yaml =
            serde_yaml_ng::from_slice(&super::super::local_binary_tags(doc.as_bytes())).unwrap();
        map(&v, Some(&t), "wf").map(|mut l| l.remove(0))
    }

    #[test]
    fn every_encoding_decodes() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let gzb64 = b64(&gz(b"hello\n"));
        for enc in ["gz+b64", "gzip+base64", "gz+base64", "gzip+b64"] {
            let f = one(&format!(
                "- path: /a\n  encoding: {enc}\n  content: {gzb64}\n"
            ))
            .unwrap();
            assert_eq!(f["content"], "hello\n", "{enc}");
        }
        for enc in ["b64", "base64"] {
            let f = one(&format!(
                "- path: /a\n  encoding: {enc}\n  content: {}\n",
                b64(b"hi")
            ))
            .unwrap();
            assert_eq!(f["content"], "hi", "{enc}");
        }
        for enc in ["gz", "gzip"] {
            let f = one(&format!(
                "- path: /a\n  encoding: {enc}\n  content: !!binary {gzb64}\n"
            ))
            .unwrap();
            assert_eq!(f["content"], "hello\n", "{enc}");
        }
        let f = one("- path: /a\n  encoding: text/plain\n  content: x\n").unwrap();
        assert_eq!(f["content"], "x");
        let f = one(&format!(
            "- path: /a\n  content: !!binary {}\n",
            b64(&[0, 255])
        ))
        .unwrap();
        assert_eq!(f["encoding"], "b64");
        assert_eq!(f["content"], b64(&[0, 255]));
        let e = one("- path: /a\n  encoding: zstd\n  content: x\n").unwrap_err();
        assert!(e.starts_with("wf[0] (/a): encoding `zstd`"), "{e}");
        let e = one("- path: /a\n  encoding: gzip\n  content: plain\n").unwrap_err();
        assert!(e.contains("not valid gzip"), "{e}");
    }

    #[test]
    fn permissions_owner_append_defer() {
        for (p, want) in [
            ("'0600'", "0600"),
            ("'0o600'", "0600"),
            ("384", "0600"),
            ("0o600", "0600"),
        ] {
            let f = one(&format!("- path: /a\n  permissions: {p}\n")).unwrap();
            assert_eq!(f["permissions"], want, "{p}");
        }
        assert!(one("- path: /a\n  permissions: '0999'\n").is_err());
        let f = one("- path: /a\n  owner: www:www\n  append: true\n  defer: true\n").unwrap();
        assert_eq!(f["owner"], "www:www");
        assert_eq!(f["append"], true);
        assert_eq!(f["defer"], true);
        let f = one("- path: /a\n  owner: root:root\n").unwrap();
        assert!(f.get("owner").is_none());
    }
}
