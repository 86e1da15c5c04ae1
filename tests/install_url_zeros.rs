//! `kateskit install --image-url URL --image-sha256 HEX --image-zeros MAP` on loop devices
//! (root), against Debian's nginx on 127.0.0.1 with a counting proxy in front of the image:
//! chunks the zero map marks all zeros are written as zeros, not downloaded, and the disk
//! still equals the image; a map that lies ends in the SHA-256 mismatch with the partition
//! tables and the node's config wiped; a map for another image, or one that cannot be fetched,
//! is refused before anything is written.

mod common;
mod http_peer;
mod image_common;

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use common::{lock, loop_devices_available, LoopDev};
use http_peer::{Fault, Nginx, Proxy};
use image_common::{
    fixture_with_zero_run, install_onto, node_config_without_install_disk as node_config,
    sha256_with_zeroed, zero_map_of,
};
use kateskit::image::embed;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
/// The image: the GPT fixture's 4 MiB, zeros, and the backup GPT in its last MiB.
const IMAGE_MIB: u64 = 68;

struct Served {
    tmp: tempfile::TempDir,
    www: PathBuf,
    image: PathBuf,
    len: u64,
    sha256: String,
    offset: u64,
    json: PathBuf,
    nginx: Nginx,
}

fn served() -> Option<Served> {
    if !loop_devices_available() {
        return None;
    }
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let (www, work) = (tmp.path().join("www"), tmp.path().join("nginx"));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let image = www.join("install.img");
    std::fs::rename(fixture_with_zero_run(tmp.path(), IMAGE_MIB), &image).unwrap();
    std::fs::write(www.join("install.zeros"), zero_map_of(&image).render()).unwrap();
    let data = std::fs::read(&image).unwrap();
    let offset =
        kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image).unwrap();
    let nginx = Nginx::start(&www, &work)?;
    let (_, json) = node_config(tmp.path());
    Some(Served {
        len: data.len() as u64,
        sha256: hex::encode(Sha256::digest(&data)),
        tmp,
        www,
        image,
        offset,
        json,
        nginx,
    })
}

impl Served {
    fn map_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.nginx.port)
    }

    fn install(&self, dev: &LoopDev, image_port: u16, zeros: &str) -> std::process::Output {
        install_onto(dev.path())
            .args([
                "--image-url",
                &format!("http://127.0.0.1:{image_port}/install.img"),
                "--image-sha256",
                &self.sha256,
                "--image-zeros",
                zeros,
            ])
            .arg("--node-config")
            .arg(&self.json)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    }

    fn disk(&self, dev: &LoopDev) -> Vec<u8> {
        let mut disk = vec![0u8; self.len as usize];
        std::fs::File::open(&dev.dev)
            .unwrap()
            .read_exact_at(&mut disk, 0)
            .unwrap();
        disk
    }
}

/// A disk that held data where the image has zeros, as a reused disk does.
fn dirty_disk(len: u64) -> LoopDev {
    let dev = LoopDev::new(len + 8 * MIB);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&dev.dev)
        .unwrap();
    for at in (0..len + 8 * MIB).step_by(MIB as usize) {
        f.write_all_at(&[0xa5; 4096], at).unwrap();
    }
    dev
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_zero_map_skips_downloading_the_zero_runs_and_the_disk_equals_the_image() {
    let _l = lock();
    let Some(s) = served() else { return };
    let p = Proxy::start(s.nginx.port, Fault::Pass);
    let dev = dirty_disk(s.len);
    let o = s.install(&dev, p.port, &s.map_url("install.zeros"));
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains(&format!("sha256 {} verified", s.sha256)), "{e}");
    assert!(e.contains("zero map:"), "{e}");
    // The disk holds the image (zeros where the old data was), the node's config in its area.
    let disk = s.disk(&dev);
    let area = &disk[s.offset as usize..s.offset as usize + embed::GPT_AREA_SIZE];
    assert!(embed::read_area_required(area)
        .unwrap()
        .node_config_json
        .is_some());
    let copy = s.tmp.path().join("disk.bin");
    std::fs::write(&copy, &disk).unwrap();
    let gpt = embed::GPT_AREA_SIZE as u64;
    assert_eq!(
        sha256_with_zeroed(&copy, s.offset, gpt),
        sha256_with_zeroed(&s.image, s.offset, gpt)
    );
    // The 8 MiB chunks from 9 MiB to 65 MiB are all zeros: one Range request after them,
    // and about 12 MiB sent of 68 (socket buffers may hold a few MiB the installer dropped).
    assert_eq!(p.ranges(), vec![format!("bytes={}-", 65 * MIB)]);
    let sent = p.sent();
    assert!(
        (12 * MIB..20 * MIB).contains(&sent),
        "{sent} bytes sent for a {} byte image",
        s.len
    );
}

#[test]
fn a_lying_zero_map_ends_in_the_mismatch_and_the_disk_has_no_partition_table() {
    let _l = lock();
    let Some(s) = served() else { return };
    // Marks the fixture's partitions (MiB 1 to 4, not zeros) as zeros with the real run.
    let lie = format!(
        "kateskit-zero-map 1 {} 1048576\n{} {}\n",
        s.len,
        MIB,
        (IMAGE_MIB - 2) * MIB
    );
    std::fs::write(s.www.join("lie.zeros"), lie).unwrap();
    let dev = dirty_disk(s.len);
    let o = s.install(&dev, s.nginx.port, &s.map_url("lie.zeros"));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("SHA-256 mismatch") && e.contains(&s.sha256),
        "{e}"
    );
    assert!(e.contains("partition tables were wiped"), "{e}");
    let disk = s.disk(&dev);
    assert!(disk[..MIB as usize].iter().all(|b| *b == 0), "first MiB");
    let tail = (s.len - 33 * 512) as usize;
    assert!(disk[tail..].iter().all(|b| *b == 0), "backup GPT region");
    let area = &disk[s.offset as usize..s.offset as usize + embed::GPT_AREA_SIZE];
    assert!(
        area.iter().all(|b| *b == 0),
        "the node config is on the disk"
    );
    let b = std::process::Command::new("blkid")
        .arg("-p")
        .arg(&dev.dev)
        .output()
        .unwrap();
    assert_eq!(b.status.code(), Some(2), "blkid found something: {b:?}");
}

#[test]
fn a_zero_map_for_another_image_or_none_at_all_is_refused_before_anything_is_written() {
    let _l = lock();
    let Some(s) = served() else { return };
    std::fs::write(
        s.www.join("other.zeros"),
        format!("kateskit-zero-map 1 {} 1048576\n0 1048576\n", s.len + MIB),
    )
    .unwrap();
    std::fs::write(s.www.join("bad.zeros"), "kateskit-zero-map 1 0 1048576\n").unwrap();
    let p = Proxy::start(s.nginx.port, Fault::Pass);
    let dev = dirty_disk(s.len);
    let before = dev.digest();
    for (name, want) in [
        ("other.zeros", "is for an image of"),
        ("bad.zeros", "image length is 0"),
        ("missing.zeros", "HTTP 404"),
    ] {
        let o = s.install(&dev, p.port, &s.map_url(name));
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(want) && e.contains(name), "{want:?}: {e}");
        assert!(e.contains("nothing was written"), "{e}");
        assert_eq!(dev.digest(), before, "{name}: the disk was written");
    }
    // The image itself was never asked for its bytes.
    let reqs = p.requests.lock().unwrap();
    assert!(reqs.iter().all(|r| r.starts_with("HEAD ")), "{reqs:?}");
}
