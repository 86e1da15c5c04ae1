//! The config drive rung: a filesystem labelled `KATESKIT` holding `kateskit.json`, or a
//! cloud-init NoCloud `CIDATA` drive whose hostname, SSH keys and write_files are mapped.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::sources::json_layer;
use super::tree::Layer;
use super::AgentEnv;

/// Labels searched under `<dev>/disk/by-label/`, in order.
pub const LABELS: [&str; 3] = ["KATESKIT", "CIDATA", "cidata"];
/// Filesystems a config drive may carry. Mounting hands the kernel's filesystem driver bytes
/// from whoever made the stick; vfat and iso9660 are what NoCloud and `mkisofs`/`mkfs.vfat`
/// produce, and ext4 (a far larger parser, with journal replay) is left out.
const FS_TYPES: [&str; 2] = ["vfat", "iso9660"];

/// A config drive that is present, before it is mounted or read.
#[derive(Debug, Clone)]
pub enum Found {
    /// A directory standing in for a mounted drive (`KATESKIT_CONFIG_DRIVE`).
    Dir(PathBuf),
    /// A block device with one of [`LABELS`].
    Device(PathBuf, &'static str),
}

impl Found {
    /// How the drive is named in the status and in errors.
    pub fn desc(&self) -> String {
        match self {
            Found::Dir(d) => format!("config drive {} (KATESKIT_CONFIG_DRIVE)", d.display()),
            Found::Device(dev, label) => format!("config drive {} (label {label})", dev.display()),
        }
    }
}

/// Finds a config drive without mounting it, so one that is not to be read is never touched.
pub fn locate(env: &AgentEnv) -> Option<Found> {
    if let Some(dir) = &env.drive_override {
        return Some(Found::Dir(dir.clone()));
    }
    for label in LABELS {
        let link = env.dev_dir.join("disk/by-label").join(label);
        if link.exists() {
            let dev = std::fs::canonicalize(&link).unwrap_or(link);
            return Some(Found::Device(dev, label));
        }
    }
    // No udev links (early boot, minimal initrd): ask libblkid, which probes the real /dev,
    // so only when the device directory is the real one.
    if env.dev_dir == Path::new("/dev") {
        for label in LABELS {
            if let Some(dev) = blkid_find(label) {
                return Some(Found::Device(dev, label));
            }
        }
    }
    None
}

/// Reads a located config drive: its layer (if any) and warnings about cloud-config keys that
/// do not map.
pub fn read(env: &AgentEnv, found: &Found) -> Result<(Option<Layer>, Vec<String>), String> {
    match found {
        Found::Dir(dir) => read_dir(dir, &found.desc()),
        Found::Device(dev, label) => read_device(env, dev, label),
    }
}

/// The device carrying filesystem label `label`, found by libblkid probing every block device.
fn blkid_find(label: &str) -> Option<PathBuf> {
    // `/dev/null` as the cache file: probe fresh, never write blkid.tab.
    let cache = libblkid_rs::BlkidCache::get_cache(Some(Path::new("/dev/null"))).ok()?;
    cache.find_dev_with_tag("LABEL", label).ok()?.devname().ok()
}

/// Mounts `dev` read-only on a private directory under `<root>/run`, reads it, unmounts.
fn read_device(
    env: &AgentEnv,
    dev: &Path,
    label: &str,
) -> Result<(Option<Layer>, Vec<String>), String> {
    let desc = format!("config drive {} (label {label})", dev.display());
    let mnt = env.run_dir().join("drive");
    std::fs::create_dir_all(&mnt)
        .map_err(|e| format!("{desc}: creating mount point {}: {e}", mnt.display()))?;
    let mut last = String::new();
    let mut mounted = false;
    for fs in FS_TYPES {
        match rustix::mount::mount(
            dev,
            &mnt,
            fs,
            rustix::mount::MountFlags::RDONLY
                | rustix::mount::MountFlags::NOSUID
                | rustix::mount::MountFlags::NODEV
                | rustix::mount::MountFlags::NOEXEC,
            "",
        ) {
            Ok(()) => {
                mounted = true;
                break;
            }
            Err(e) => last = format!("{fs}: {e}"),
        }
    }
    if !mounted {
        let _ = std::fs::remove_dir(&mnt);
        return Err(format!("{desc}: cannot mount read-only as {} (last error {last}); reformat it as vfat or iso9660", FS_TYPES.join("/")));
    }
    let result = read_dir(&mnt, &desc);
    let _ = rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty());
    let _ = std::fs::remove_dir(&mnt);
    result
}

/// Reads an (already mounted) config drive directory.
pub fn read_dir(dir: &Path, desc: &str) -> Result<(Option<Layer>, Vec<String>), String> {
    // Regular files directly in the drive's root only, no symlinks, at most 1 MiB each.
    let file = |name: &str| -> Result<Option<Vec<u8>>, String> {
        crate::fsutil::read_beneath(dir, name, crate::fsutil::DRIVE_FILE_MAX)
            .map_err(|e| format!("{desc}: {name}: {e}; config drive files must be regular files"))
    };
    map_files(&file, desc)
}

/// A config drive file by name, Ok(None) when absent.
pub type DriveFile<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// Maps a drive's files (`kateskit.json`, else NoCloud `meta-data` and `user-data`) to a
/// layer; `file` supplies their bytes (from the mounted drive, or from memory when fuzzing).
pub fn map_files(file: &DriveFile, desc: &str) -> Result<(Option<Layer>, Vec<String>), String> {
    if let Some(b) = file("kateskit.json")? {
        return json_layer(&b, &format!("{desc} kateskit.json")).map(|l| (Some(l), Vec::new()));
    }
    // A k3os config.yaml at the root (docs/migrate-k3os.md).
    if let Some(b) = file(super::k3os_source::DRIVE_FILE)? {
        return super::k3os_source::config_layer(&b, &format!("{desc} config.yaml"));
    }
    let mut layer = Layer {
        tree: Value::Object(Map::new()),
        origin: Default::default(),
    };
    let mut warnings = Vec::new();
    if let Some(b) = file("meta-data")? {
        let meta = yaml(&b, &format!("{desc} meta-data"))?;
        if let Some(h) = meta.get("local-hostname").and_then(Value::as_str) {
            set(
                &mut layer,
                "host",
                "hostname",
                json!(h),
                &format!("{desc} meta-data local-hostname"),
            );
        }
    }
    if let Some(b) = file("user-data")? {
        let src = format!("{desc} user-data");
        if !b.starts_with(b"#cloud-config") {
            warnings.push(format!("{src}: not a #cloud-config document; ignored"));
        } else {
            let ud = yaml(&b, &src)?;
            for (k, v) in ud.as_object().into_iter().flatten() {
                match k.as_str() {
                    "hostname" => set(
                        &mut layer,
                        "host",
                        "hostname",
                        v.clone(),
                        &format!("{src} hostname"),
                    ),
                    "ssh_authorized_keys" => set(
                        &mut layer,
                        "host",
                        "ssh_authorized_keys",
                        v.clone(),
                        &format!("{src} ssh_authorized_keys"),
                    ),
                    "write_files" => set(
                        &mut layer,
                        "agent",
                        "write_files",
                        write_files(v, &src)?,
                        &format!("{src} write_files"),
                    ),
                    other => warnings.push(format!(
                        "{src}: cloud-config key `{other}` has no KatesKit equivalent; ignored"
                    )),
                }
            }
        }
    }
    Ok((if layer.is_empty() { None } else { Some(layer) }, warnings))
}

fn set(layer: &mut Layer, section: &str, key: &str, v: Value, src: &str) {
    let obj = layer.tree.as_object_mut().expect("layer root is an object");
    let sec = obj
        .entry(section)
        .or_insert_with(|| Value::Object(Map::new()));
    sec.as_object_mut()
        .expect("section is an object")
        .insert(key.into(), v);
    layer
        .origin
        .insert(format!("{section}.{key}"), src.to_string());
}

fn yaml(b: &[u8], src: &str) -> Result<Value, String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(b).map_err(|e| match e.location() {
        Some(l) => format!(
            "{src}: line {} column {}: {e}; fix the YAML there",
            l.line(),
            l.column()
        ),
        None => format!("{src}: {e}"),
    })?;
    let v: Value = serde_json::to_value(v).map_err(|e| format!("{src}: {e}"))?;
    Ok(if v.is_null() { json!({}) } else { v })
}

/// cloud-init write_files entries → the agent's write_files (owner/append/defer not supported).
fn write_files(v: &Value, src: &str) -> Result<Value, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("{src}: write_files must be a list"))?;
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let path = it
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{src}: write_files[{i}] has no path"))?;
        let mut f = json!({"path": path, "content": it.get("content").and_then(Value::as_str).unwrap_or("")});
        match it.get("encoding").and_then(Value::as_str) {
            None | Some("text/plain") => {}
            Some("b64" | "base64") => f["encoding"] = json!("b64"),
            Some(other) => return Err(format!("{src}: write_files[{i}] ({path}): encoding `{other}` is not supported; use b64 or plain text")),
        }
        if let Some(p) = it.get("permissions").and_then(Value::as_str) {
            f["permissions"] = json!(p);
        }
        out.push(f);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nocloud_maps_hostname_keys_and_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("meta-data"),
            "instance-id: i-1\nlocal-hostname: meta-host\n",
        )
        .unwrap();
        std::fs::write(d.path().join("user-data"), "#cloud-config\nhostname: ud-host\nssh_authorized_keys: [\"ssh-ed25519 AAAA k\"]\nwrite_files:\n- path: /etc/x\n  content: aGk=\n  encoding: b64\npackages: [vim]\n").unwrap();
        let (l, w) = read_dir(d.path(), "drive").unwrap();
        let l = l.unwrap();
        assert_eq!(l.tree["host"]["hostname"], "ud-host");
        assert_eq!(l.origin["host.hostname"], "drive user-data hostname");
        assert_eq!(l.tree["agent"]["write_files"][0]["encoding"], "b64");
        assert_eq!(
            w,
            vec![
                "drive user-data: cloud-config key `packages` has no KatesKit equivalent; ignored"
            ]
        );
    }

    #[test]
    fn bad_yaml_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("user-data"),
            "#cloud-config\nhostname: [unclosed\n",
        )
        .unwrap();
        let e = read_dir(d.path(), "drive").unwrap_err();
        assert!(e.starts_with("drive user-data: line"), "{e}");
    }
}
