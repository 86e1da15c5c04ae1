//! The two EFI variables systemd-boot leaves for the booted system (efivarfs format: a 4-byte
//! attribute word, then the value; both are UTF-16LE strings, NUL-terminated): which entry was
//! booted (`LoaderEntrySelected`), and, when that entry counts its boots, the ESP path of its
//! counted file after this boot's decrement (`LoaderBootCountPath`), which blessing renames.

use std::path::{Path, PathBuf};

use super::entry::EntryName;
use super::SlotsError;

/// The Boot Loader Interface vendor GUID.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
pub const DEFAULT_DIR: &str = "/sys/firmware/efi/efivars";
/// Longest value read (a path on the ESP; the variables are tiny).
const MAX_VAR: u64 = 4096;

/// What the loader said about this boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    /// `LoaderEntrySelected`, as the loader wrote it.
    pub selected: String,
    /// `LoaderBootCountPath` with `/` separators and no leading one (relative to the ESP).
    pub count_path: Option<PathBuf>,
}

impl BootInfo {
    /// The booted entry: the counted file when there is one, else the selected id.
    pub fn entry(&self) -> Result<EntryName, SlotsError> {
        let (name, var) = match &self.count_path {
            Some(p) => (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                "LoaderBootCountPath",
            ),
            None => (self.selected.clone(), "LoaderEntrySelected"),
        };
        EntryName::parse(&name).map_err(|e| SlotsError::Efivar {
            path: PathBuf::from(var),
            msg: format!("the booted entry is not a KatesKit slot: {e}"),
        })
    }
}

/// The efivarfs directory: `dir` when given, the `KATESKIT_EFIVARS_DIR` test hook, or
/// /sys/firmware/efi/efivars.
pub fn dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| crate::hooks::var(crate::hooks::EFIVARS_DIR).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Decodes one efivarfs file: attributes, then UTF-16LE up to the first NUL.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes; expected the 4-byte attributes and a value",
            bytes.len()
        ));
    }
    let v = &bytes[4..];
    if !v.len().is_multiple_of(2) {
        return Err(format!("odd value length {} for a UTF-16 string", v.len()));
    }
    let units: Vec<u16> = v
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).map_err(|e| format!("not UTF-16: {e}"))
}

/// Encodes a string as efivarfs would show it (attributes NV|BS|RT, NUL-terminated), for
/// tests that play the loader.
pub fn encode(value: &str) -> Vec<u8> {
    let mut out = 7u32.to_le_bytes().to_vec();
    for u in value.encode_utf16().chain([0]) {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

fn read_var(dir: &Path, name: &str) -> Result<Option<String>, SlotsError> {
    let path = dir.join(format!("{name}-{LOADER_GUID}"));
    let bytes = crate::fsutil::read_nofollow(&path, MAX_VAR).map_err(|e| SlotsError::Efivar {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    match bytes {
        None => Ok(None),
        Some(b) => decode(&b)
            .map(Some)
            .map_err(|msg| SlotsError::Efivar { path, msg }),
    }
}

/// Reads both variables. No `LoaderEntrySelected` means systemd-boot did not start this boot.
pub fn read(dir: &Path) -> Result<BootInfo, SlotsError> {
    let selected = read_var(dir, "LoaderEntrySelected")?.ok_or_else(|| SlotsError::NotBooted {
        dir: dir.to_path_buf(),
    })?;
    let count_path = read_var(dir, "LoaderBootCountPath")?
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(s.replace('\\', "/").trim_start_matches('/')));
    Ok(BootInfo {
        selected,
        count_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_values() {
        assert_eq!(
            decode(&encode("kateskit_2+2-1.efi")).unwrap(),
            "kateskit_2+2-1.efi"
        );
        let mut no_nul = 7u32.to_le_bytes().to_vec();
        no_nul.extend_from_slice(&[b'a', 0]);
        assert_eq!(decode(&no_nul).unwrap(), "a");
        assert!(decode(&[1, 2]).is_err());
        assert!(decode(&[7, 0, 0, 0, b'a']).is_err());
    }

    #[test]
    fn reads_the_counted_path_relative_to_the_esp() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(format!("LoaderEntrySelected-{LOADER_GUID}")),
            encode("kateskit_2+3-0.efi"),
        )
        .unwrap();
        std::fs::write(
            d.path().join(format!("LoaderBootCountPath-{LOADER_GUID}")),
            encode("\\EFI\\Linux\\kateskit_2+2-1.efi"),
        )
        .unwrap();
        let info = read(d.path()).unwrap();
        assert_eq!(
            info.count_path.as_deref(),
            Some(Path::new("EFI/Linux/kateskit_2+2-1.efi"))
        );
        assert_eq!(info.entry().unwrap().file_name(), "kateskit_2+2-1.efi");
        std::fs::remove_file(d.path().join(format!("LoaderBootCountPath-{LOADER_GUID}"))).unwrap();
        let info = read(d.path()).unwrap();
        assert_eq!(info.entry().unwrap().version.as_str(), "2");
    }
}
