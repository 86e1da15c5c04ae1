//! A release's `SHA256SUMS`: `<64 hex>  <name>` lines (`*name` accepted), naming exactly one
//! VERSION through `kateskit_<V>.efi` and `kateskit_<V>.store`; other files are ignored.
//!
//! MERGE: the node side parses the same file in `slots::release`; once both are on one branch
//! this module gives way to it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: String,
    pub uki_name: String,
    pub uki_sha256: String,
    pub store_name: String,
    pub store_sha256: String,
}

/// A VERSION: 1-64 characters of `[0-9A-Za-z.~^-]`, starting alphanumeric.
pub fn valid_version(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".~^-".contains(c))
}

pub fn parse(text: &str) -> Result<Release, String> {
    let mut versions: Vec<String> = Vec::new();
    let mut uki = None;
    let mut store = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (hash, name) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {}: expected `<sha256>  <name>`", i + 1))?;
        let name = name.trim_start_matches([' ', '*']);
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: `{hash}` is not a SHA-256 in hex", i + 1));
        }
        let hash = hash.to_ascii_lowercase();
        let Some(rest) = name.strip_prefix("kateskit_") else {
            continue;
        };
        let (v, kind) = if let Some(v) = rest.strip_suffix(".efi") {
            (v, &mut uki)
        } else if let Some(v) = rest.strip_suffix(".store") {
            (v, &mut store)
        } else {
            continue;
        };
        if !valid_version(v) {
            return Err(format!(
                "line {}: `{v}` is not a valid VERSION (1-64 of [0-9A-Za-z.~^-], starting alphanumeric)",
                i + 1
            ));
        }
        if !versions.iter().any(|x| x == v) {
            versions.push(v.to_string());
        }
        *kind = Some((name.to_string(), hash));
    }
    match versions.as_slice() {
        [_] => {}
        [] => return Err("names no kateskit_<VERSION>.efi / .store files".into()),
        many => {
            return Err(format!(
                "names several versions ({}); a release holds exactly one",
                many.join(", ")
            ))
        }
    }
    let version = versions.remove(0);
    let (uki_name, uki_sha256) =
        uki.ok_or_else(|| format!("has no kateskit_{version}.efi (the UKI)"))?;
    let (store_name, store_sha256) =
        store.ok_or_else(|| format!("has no kateskit_{version}.store (the store image)"))?;
    Ok(Release {
        version,
        uki_name,
        uki_sha256,
        store_name,
        store_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn one_version_with_both_files() {
        let r = parse(&format!(
            "{H}  kateskit_2.1.efi\n{H} *kateskit_2.1.store\n{H}  README\n"
        ))
        .unwrap();
        assert_eq!(r.version, "2.1");
        assert_eq!(r.store_name, "kateskit_2.1.store");
    }

    #[test]
    fn refuses_two_versions_a_missing_store_and_bad_hex() {
        let two = format!("{H}  kateskit_1.efi\n{H}  kateskit_2.store\n");
        assert!(parse(&two).unwrap_err().contains("several versions"));
        let no_store = format!("{H}  kateskit_1.efi\n");
        assert!(parse(&no_store).unwrap_err().contains(".store"));
        assert!(parse("abc  kateskit_1.efi\n")
            .unwrap_err()
            .contains("SHA-256"));
        let bad_v = format!("{H}  kateskit_1+2.efi\n");
        assert!(parse(&bad_v).unwrap_err().contains("VERSION"));
    }
}
