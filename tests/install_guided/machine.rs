//! The machine a guided-install test sees: two loop-device disks (ext4 data, blank) in one
//! stand-in /dev and udev database, the image to install, and the shell script the tmux pane
//! runs.

use std::path::PathBuf;

use base64::Engine;

use crate::common::{run, LoopDev};
use crate::image_common::fixture_copy;
use kateskit::image::embed;

const MIB: u64 = 1 << 20;

/// A syntactically valid ed25519 public key (type-prefixed blob, 32 key bytes).
pub fn ssh_key() -> String {
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[7u8; 32][..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("ssh-ed25519 {b64} ops@laptop")
}

/// Two disks in one stand-in /dev and udev database, the layout a live system sees.
pub struct Machine {
    tmp: tempfile::TempDir,
    pub image: PathBuf,
    pub data: LoopDev,
    pub blank: LoopDev,
}

impl Machine {
    pub fn new() -> Machine {
        let tmp = tempfile::tempdir().unwrap();
        let image = fixture_copy(tmp.path(), "gpt.img.zst");
        let data = LoopDev::new(32 * MIB);
        run("mkfs.ext4", &["-q", "-F", "-L", "data", data.path()]);
        let blank = LoopDev::new(32 * MIB);
        let dev = tmp.path().join("dev");
        let udev = tmp.path().join("udev");
        std::fs::create_dir_all(dev.join("disk/by-id")).unwrap();
        std::fs::create_dir_all(tmp.path().join("root")).unwrap();
        std::fs::create_dir(&udev).unwrap();
        for lo in [&data, &blank] {
            let serial = Self::serial_of(lo);
            std::os::unix::fs::symlink(&lo.dev, dev.join(lo.name())).unwrap();
            std::os::unix::fs::symlink(&lo.dev, dev.join(format!("disk/by-id/ata-{serial}")))
                .unwrap();
            let devno =
                std::fs::read_to_string(format!("/sys/class/block/{}/dev", lo.name())).unwrap();
            std::fs::write(
                udev.join(format!("b{}", devno.trim())),
                format!("E:ID_SERIAL_SHORT={serial}\n"),
            )
            .unwrap();
        }
        Machine {
            tmp,
            image,
            data,
            blank,
        }
    }

    /// A directory that lives as long as the machine.
    pub fn dir(&self) -> &std::path::Path {
        self.tmp.path()
    }

    pub fn serial_of(lo: &LoopDev) -> String {
        format!("KKGUIDED_{}", lo.name().to_uppercase())
    }

    pub fn by_id(lo: &LoopDev) -> String {
        format!("/dev/disk/by-id/ata-{}", Self::serial_of(lo))
    }

    /// A shell script running install in the pane, then its exit code and the terminal's
    /// echo setting, so the test sees both after the command ends.
    pub fn script(&self, extra: &str) -> PathBuf {
        let bin = assert_cmd::cargo::cargo_bin("kateskit");
        let p = self.tmp.path().join("session.sh");
        let t = self.tmp.path();
        std::fs::write(
            &p,
            format!(
                "KATESKIT_ROOT={root} KATESKIT_DEV_DIR={dev} KATESKIT_UDEV_DATA_DIR={udev} {bin} install --allow-bios-firmware --no-boot-entry --image {img} {extra}\n\
                 echo \"EXIT:$?\"\nstty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo' | sed 's/^/ECHO:/'\nsleep 120\n",
                root = t.join("root").display(),
                dev = t.join("dev").display(),
                udev = t.join("udev").display(),
                bin = bin.display(),
                img = self.image.display(),
            ),
        )
        .unwrap();
        p
    }

    /// The config layer in the embed partition `lo` got (the agent's embed reader).
    pub fn stamped_layer(&self, lo: &LoopDev) -> serde_json::Value {
        let image = std::fs::File::open(&self.image).unwrap();
        let offset = kateskit::install::embed_offset(&image, &self.image).unwrap();
        let f = std::fs::File::open(&lo.dev).unwrap();
        let mut buf = vec![0u8; embed::GPT_AREA_SIZE];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, offset).unwrap();
        let area = embed::read_area(&buf).unwrap().expect("stamped area");
        assert!(area.kargs.is_empty(), "{:?}", area.kargs);
        serde_json::from_str(area.node_config_json.as_deref().unwrap()).unwrap()
    }

    pub fn digests(&self) -> (String, String) {
        (self.data.digest(), self.blank.digest())
    }
}
