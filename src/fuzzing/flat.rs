//! The flat-file codec's harness: file names, value text and `KATESKIT_VALUE_*` names are
//! read from drives and environments, and the writer must produce exactly what the reader
//! reads back.

use crate::agent::ladder::flat::{self, env};

/// Input: a flat path, 0x00, a file's text, 0x00, a variable name. Keys survive file-name
/// encoding and variable naming; text that parses as its path's type reads back as the same
/// value after the writer renders it; a valid variable name is the canonical name of its keys.
pub fn flat(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let (path, body, var) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if let Ok(keys) = flat::keys_of_flat(path) {
        for k in &keys {
            if let Some(seg) = flat::encode_key(k) {
                assert_eq!(flat::decode_key(&seg).as_deref(), Ok(k.as_str()), "{seg}");
            }
        }
        if keys.iter().all(|k| !k.is_empty()) {
            let name = env::var_name(&keys);
            assert_eq!(env::keys_of_var(&name).as_ref(), Ok(&keys), "{name}");
        }
        if let Ok(kind) = flat::kind_at(&keys) {
            if let Ok(v) = flat::parse(&kind, body, false) {
                if let Some(r) = flat::render(&kind, &v) {
                    assert_eq!(
                        flat::parse(&kind, &r, false).ok(),
                        Some(v),
                        "{kind:?} {r:?}"
                    );
                }
            }
        }
    }
    if let Ok(keys) = env::keys_of_var(var) {
        assert_eq!(env::var_name(&keys), var);
    }
}
