//! k3os `write_files` entries mapped onto the agent's write_files: k3os's encodings decoded
//! (`pkg/util/decode.go`), paths only k3os's Alpine reads reported instead of written.

use base64::Engine;
use serde_json::{json, Value};

use super::config::K3osConfig;
use super::map::Out;
use super::K3osError;

/// Paths in write_files that only OpenRC or connman on Alpine read.
const ALPINE_PATHS: [(&str, &str); 7] = [
    ("/etc/local.d/", "OpenRC local.d script"),
    ("/etc/init.d/", "OpenRC service"),
    ("/etc/conf.d/", "OpenRC service configuration"),
    ("/etc/runlevels/", "OpenRC runlevel"),
    ("/etc/connman/", "connman configuration"),
    ("/var/lib/connman/", "connman service file"),
    ("/etc/network/interfaces", "Alpine ifupdown configuration"),
];

pub(super) fn write_files(o: &mut Out, cfg: &K3osConfig) -> Result<Vec<Value>, K3osError> {
    let mut out = Vec::new();
    for (i, f) in cfg.write_files.iter().enumerate() {
        let err = |reason: String| K3osError::File {
            src: o.src.into(),
            index: i,
            path: f.path.clone(),
            reason,
        };
        if !f.path.starts_with('/') {
            return Err(err("path must be absolute".into()));
        }
        if let Some((_, what)) = ALPINE_PATHS.iter().find(|(p, _)| f.path.starts_with(p)) {
            o.report(&format!("write_files[{i}] {}", f.path), &format!("{what}: only k3os's Alpine (OpenRC, connman) reads it; write a systemd unit or networkd file instead"));
            continue;
        }
        let mut e = json!({"path": f.path});
        match f.encoding.as_str() {
            "" => e["content"] = json!(f.content),
            "b64" | "base64" => {
                e["content"] = json!(f.content);
                e["encoding"] = json!("b64");
            }
            "gz" | "gzip" => {
                let data = gunzip(f.content.as_bytes()).map_err(err)?;
                e["content"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
                e["encoding"] = json!("b64");
            }
            "gz+base64" | "gzip+base64" | "gz+b64" | "gzip+b64" => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(f.content.trim())
                    .map_err(|x| err(format!("content is not base64: {x}")))?;
                let data = gunzip(&raw).map_err(err)?;
                e["content"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
                e["encoding"] = json!("b64");
            }
            other => return Err(err(format!("encoding `{other}` is not one of k3os's (b64, base64, gz, gzip, gz+b64, gzip+b64, gz+base64, gzip+base64)"))),
        }
        if !f.permissions.is_empty() {
            e["permissions"] = json!(f.permissions);
        }
        if !f.owner.is_empty() && f.owner != "root" && f.owner != "root:root" {
            o.report(
                &format!("write_files[{i}] {} owner {}", f.path, f.owner),
                "files are written owned by root",
            );
        }
        out.push(e);
    }
    Ok(out)
}

fn gunzip(b: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .map_err(|e| format!("content is not gzip data: {e}"))?;
    Ok(out)
}
