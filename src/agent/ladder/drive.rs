//! The config drive rung: finds and reads a filesystem labelled `KATESKIT` holding
//! `kateskit.json`, or a cloud-init NoCloud `CIDATA` drive, mapped by [`crate::agent::ladder::nocloud`].

use std::path::{Path, PathBuf};

use crate::agent::ladder::merge::json_layer;
use crate::agent::ladder::merge::Layer;
use crate::agent::AgentEnv;

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
    let (layer, warnings) = map_files(&file, desc)?;
    // A flat config tree `config/` (docs/agent.md "Flat-file config"), above the files.
    let tree = super::flat::input::drive(dir, desc).map_err(|e| e.to_string())?;
    Ok((super::flat::input::over(layer, tree), warnings))
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
    if let Some(b) = file(crate::agent::ladder::k3os::DRIVE_FILE)? {
        return crate::agent::ladder::k3os::config_layer(&b, &format!("{desc} config.yaml"));
    }
    let (meta_data, user_data, network_config) = (
        file("meta-data")?,
        file("user-data")?,
        file("network-config")?,
    );
    crate::agent::ladder::nocloud::map(&crate::agent::ladder::nocloud::Drive {
        desc,
        meta_data: meta_data.as_deref(),
        user_data: user_data.as_deref(),
        network_config: network_config.as_deref(),
    })
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
        assert_eq!(l.tree["agent"]["write_files"][0]["content"], "hi");
        assert_eq!(
            w,
            vec!["drive user-data: `packages` is not mapped (no KatesKit equivalent); ignored"]
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
