//! `kateskit install --image-url URL --image-sha256 HEX` on loop devices (root), against
//! Debian's nginx on 127.0.0.1 (a fault proxy in front of it for dropped connections and a
//! missing Content-Length): the streamed install equals the image plus the stamped config; a
//! wrong hash, a server that always closes early and a missing size leave no partition table.

mod common;
mod http_peer;
mod image_common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{lock, loop_devices_available, LoopDev};
use http_peer::{Fault, Nginx, Proxy};
use image_common::{
    fixture_copy, kateskit, node_config_without_install_disk as node_config, sha256_with_zeroed,
};
use kateskit::image::embed;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

/// The raw image served from `<tmp>/www/install.img`, its hash and embed offset.
struct Served {
    tmp: tempfile::TempDir,
    image: PathBuf,
    len: u64,
    sha256: String,
    offset: u64,
    /// The NodeConfig stamped into the embed area.
    json: PathBuf,
    nginx: Nginx,
}

fn served() -> Option<Served> {
    if !loop_devices_available() {
        return None;
    }
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let www = tmp.path().join("www");
    let work = tmp.path().join("nginx");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let fixture = fixture_copy(tmp.path(), "gpt.img.zst");
    let image = www.join("install.img");
    std::fs::rename(&fixture, &image).unwrap();
    let data = std::fs::read(&image).unwrap();
    let sha256 = hex::encode(Sha256::digest(&data));
    let offset =
        kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image).unwrap();
    let nginx = Nginx::start(&www, &work)?;
    let (_, json) = node_config(tmp.path());
    Some(Served {
        json,
        len: data.len() as u64,
        tmp,
        image,
        sha256,
        offset,
        nginx,
    })
}

impl Served {
    fn url(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}/install.img")
    }

    fn install(&self, dev: &LoopDev, url: &str, sha256: &str) -> std::process::Output {
        self.install_with(dev, url, sha256, &[])
    }

    fn install_with(
        &self,
        dev: &LoopDev,
        url: &str,
        sha256: &str,
        extra: &[&str],
    ) -> std::process::Output {
        kateskit()
            // What the live image sets; --image-url still takes precedence without a conflict.
            .env("KATESKIT_INSTALL_IMAGE", "/etc/kateskit/install.img")
            .args([
                "install",
                "--yes",
                "--allow-bios-firmware",
                "--no-boot-entry",
                "--device",
                dev.path(),
                "--image-url",
                url,
                "--image-sha256",
                sha256,
            ])
            .args(extra)
            .arg("--node-config")
            .arg(&self.json)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    }

    /// The embed area on the disk is empty: a failed install leaves no node config behind.
    fn assert_no_config(&self, dev: &LoopDev) {
        let mut area = vec![0u8; embed::GPT_AREA_SIZE];
        std::fs::File::open(&dev.dev)
            .unwrap()
            .read_exact_at(&mut area, self.offset)
            .unwrap();
        assert!(
            area.iter().all(|b| *b == 0),
            "the node config is on the disk"
        );
    }

    /// The disk holds the image outside the embed area, and the node's config inside it.
    fn assert_installed(&self, dev: &LoopDev) {
        let f = std::fs::File::open(&dev.dev).unwrap();
        let mut disk = vec![0u8; self.len as usize];
        f.read_exact_at(&mut disk, 0).unwrap();
        let area = &disk[self.offset as usize..self.offset as usize + embed::GPT_AREA_SIZE];
        let got = embed::read_area_required(area).unwrap();
        assert_eq!(
            got.node_config_json.unwrap(),
            std::fs::read_to_string(&self.json).unwrap()
        );
        let copy = self.tmp.path().join("disk.bin");
        std::fs::write(&copy, &disk).unwrap();
        assert_eq!(
            sha256_with_zeroed(&copy, self.offset, embed::GPT_AREA_SIZE as u64),
            sha256_with_zeroed(&self.image, self.offset, embed::GPT_AREA_SIZE as u64)
        );
        std::fs::remove_file(&copy).unwrap();
    }
}

/// Neither blkid nor sgdisk finds a partition table (or anything else) on the disk.
fn assert_no_partition_table(dev: &Path) {
    let b = Command::new("blkid").arg("-p").arg(dev).output().unwrap();
    assert_eq!(
        b.status.code(),
        Some(2),
        "blkid found something: {}",
        String::from_utf8_lossy(&b.stdout)
    );
    let s = Command::new("sgdisk").arg("-v").arg(dev).output().unwrap();
    let out = String::from_utf8_lossy(&s.stdout).to_lowercase();
    assert!(
        out.contains("creating new gpt entries") || out.contains("no gpt"),
        "sgdisk sees a GPT: {out}"
    );
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_streamed_install_equals_the_image_with_the_stamped_config() {
    let _l = lock();
    let Some(s) = served() else { return };
    let dev = LoopDev::new(s.len + 8 * MIB);
    let o = s.install(&dev, &s.url(s.nginx.port), &s.sha256.to_uppercase());
    assert!(o.status.success(), "{}", stderr(&o));
    s.assert_installed(&dev);
    assert!(stderr(&o).contains("verified"), "{}", stderr(&o));
}

#[test]
fn a_wrong_hash_is_refused_and_the_disk_has_no_partition_table() {
    let _l = lock();
    let Some(s) = served() else { return };
    let dev = LoopDev::new(s.len + 8 * MIB);
    let wrong = "00".repeat(32);
    let url = format!("http://kk:hunter2@127.0.0.1:{}/install.img", s.nginx.port);
    let o = s.install(&dev, &url, &wrong);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("SHA-256 mismatch"), "{e}");
    assert!(
        e.contains(&wrong) && e.contains(&s.sha256),
        "both hashes: {e}"
    );
    assert!(
        e.contains("127.0.0.1") && !e.contains("hunter2"),
        "redacted URL: {e}"
    );
    assert!(e.contains("image_sha256"), "names the fix: {e}");
    assert_no_partition_table(Path::new(&dev.dev));
    s.assert_no_config(&dev);
}

#[test]
fn a_server_that_always_closes_early_is_refused_and_the_disk_has_no_partition_table() {
    let _l = lock();
    let Some(s) = served() else { return };
    let p = Proxy::start(s.nginx.port, Fault::CutEvery(512 * 1024));
    let dev = LoopDev::new(s.len + 8 * MIB);
    let o = s.install(&dev, &s.url(p.port), &s.sha256);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("giving up after 5 attempts"), "{e}");
    assert!(e.contains("partition tables were wiped"), "{e}");
    s.assert_no_config(&dev);
    // Every reconnection asked for the byte it had got to.
    let ranges = p.ranges();
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    assert_eq!(ranges[0], "bytes=524288-");
    assert_no_partition_table(Path::new(&dev.dev));
}

#[test]
fn a_server_that_stalls_times_out_and_the_disk_has_no_partition_table() {
    let _l = lock();
    let Some(s) = served() else { return };
    let p = Proxy::start(s.nginx.port, Fault::StallEvery(256 * 1024));
    let dev = LoopDev::new(s.len + 8 * MIB);
    let t0 = std::time::Instant::now();
    let o = s.install_with(&dev, &s.url(p.port), &s.sha256, &["--image-timeout", "1"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("timed out") && e.contains("giving up after 5 attempts"),
        "{e}"
    );
    assert!(e.contains("partition tables were wiped"), "{e}");
    // Five stalls of 1 s and the waits between them, not the proxy's 20 s.
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(19),
        "{:?}",
        t0.elapsed()
    );
    assert_no_partition_table(Path::new(&dev.dev));
}

#[test]
fn a_connection_dropped_once_resumes_with_a_range_and_installs() {
    let _l = lock();
    let Some(s) = served() else { return };
    let cut = (5 * MIB / 2) as usize;
    let p = Proxy::start(s.nginx.port, Fault::CutOnce(cut));
    let dev = LoopDev::new(s.len + 8 * MIB);
    let o = s.install(&dev, &s.url(p.port), &s.sha256);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(p.ranges(), vec![format!("bytes={cut}-")]);
    s.assert_installed(&dev);
}

#[test]
fn a_server_without_content_length_is_refused_before_anything_is_written() {
    let _l = lock();
    let Some(s) = served() else { return };
    let p = Proxy::start(s.nginx.port, Fault::NoLength);
    let dev = LoopDev::new(s.len + 8 * MIB);
    // Something recognisable on the disk, to see it untouched.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&dev.dev)
        .unwrap()
        .write_all_at(&[0xa5; 4096], 3 * MIB)
        .unwrap();
    let before = dev.digest();
    let o = s.install(&dev, &s.url(p.port), &s.sha256);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("no Content-Length"), "{e}");
    assert_eq!(dev.digest(), before, "the disk was written");
    assert!(p
        .requests
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.starts_with("HEAD ")));
}
