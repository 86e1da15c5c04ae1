//! The copy behind `image customize -o`: every method byte for byte at awkward sizes, failures on
//! either side end the pipelined copy with the error (no hang), and on real filesystems made on
//! loop devices: XFS shares extents (reflink) and the stamp does not reach the source, ext4 takes
//! direct I/O, and a full filesystem leaves neither the output nor a temp file behind.

mod common;
mod image_common;

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use common::{lock, loop_devices_available, run as tool, LoopDev, MountGuard};
use image_common::leftovers;
use kateskit::image::copy::{self, CopyMethod};
use kateskit::image::copy_direct::{self, ALIGN};
use rand::RngCore;

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(path, &data).unwrap();
    data
}

/// A directory on the repository's filesystem (not a tmpfs that may refuse O_DIRECT).
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

#[test]
fn direct_copy_is_exact_for_every_size_around_chunk_and_block_edges() {
    let dir = workdir();
    let chunk = 2 * ALIGN;
    let sizes = [
        0,
        1,
        ALIGN - 1,
        ALIGN,
        ALIGN + 1,
        chunk,
        chunk + 1,
        7 * chunk + ALIGN + 17,
        8 * chunk,
    ];
    for len in sizes {
        let src_path = dir.path().join(format!("src-{len}"));
        let data = random_file(&src_path, len);
        let dst_path = dir.path().join(format!("dst-{len}"));
        let dst = File::create(&dst_path).unwrap();
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&dst_path)
            .unwrap();
        let src = File::open(&src_path).unwrap();
        copy_direct::copy(&src, &direct, &dst, len as u64, chunk, None).unwrap();
        assert!(
            std::fs::read(&dst_path).unwrap() == data,
            "direct copy of {len} bytes differs from its source"
        );
    }
}

#[test]
fn each_method_copies_exactly_and_an_unsupported_one_says_so() {
    let dir = workdir();
    // Two default chunks and a tail that is not a whole block.
    let len = 2 * copy_direct::CHUNK + 3 * ALIGN + 5;
    let src_path = dir.path().join("src");
    let data = random_file(&src_path, len);
    for method in [
        CopyMethod::DirectIo,
        CopyMethod::CopyFileRange,
        CopyMethod::ReadWrite,
        CopyMethod::Reflink,
    ] {
        let dst_path = dir.path().join(format!("dst-{method:?}"));
        let dst = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&dst_path)
            .unwrap();
        let src = File::open(&src_path).unwrap();
        match copy::copy_file(&src, &dst, Some(method), None) {
            Ok(got) => {
                assert_eq!(got, method);
                assert!(
                    std::fs::read(&dst_path).unwrap() == data,
                    "{method} copy differs from its source"
                );
            }
            // Only sharing extents depends on the filesystem the tests run on.
            Err(e) if method == CopyMethod::Reflink => {
                eprintln!("reflink not offered by this filesystem: {e}");
                assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
            }
            Err(e) => panic!("{method} failed: {e}"),
        }
    }
}

/// Runs `f` on a thread and fails the test if it does not return within `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the copy hung instead of returning its error")
}

#[test]
fn a_failing_writer_or_reader_ends_the_copy_with_the_error() {
    let dir = workdir();
    let src_path = dir.path().join("src");
    random_file(&src_path, 16 * 2 * ALIGN);
    // Destination opened read-only: the first write fails while the reader still has work.
    let dst_path = dir.path().join("dst");
    File::create(&dst_path).unwrap();
    let (s, d) = (src_path.clone(), dst_path.clone());
    let err = within(Duration::from_secs(30), move || {
        let src = File::open(&s).unwrap();
        let ro = File::open(&d).unwrap();
        copy_direct::copy(&src, &ro, &ro, 16 * 2 * ALIGN as u64, 2 * ALIGN, None)
    })
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");

    // Source shorter than announced: the reader's error reaches the caller.
    let (s, d) = (src_path, dst_path);
    let err = within(Duration::from_secs(30), move || {
        let src = File::open(&s).unwrap();
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&d)
            .unwrap();
        let dst = File::options().write(true).open(&d).unwrap();
        copy_direct::copy(&src, &direct, &dst, 64 * ALIGN as u64, 2 * ALIGN, None)
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

/// A filesystem made by `mkfs` on a loop device and mounted; torn down on drop (mount first).
struct Fs {
    mount: MountGuard,
    _dev: LoopDev,
}

fn make_fs(size: u64, mkfs: &str, args: &[&str]) -> Fs {
    let dev = LoopDev::new(size);
    let mut all = args.to_vec();
    all.push(dev.path());
    tool(mkfs, &all);
    Fs {
        mount: MountGuard::new(dev.path()),
        _dev: dev,
    }
}

/// Stamps a marker into the copy, as `customize -o` stamps the embed area.
fn stamp(path: &Path) -> Result<(), copy::CopyError> {
    use std::os::unix::fs::FileExt;
    let f = File::options().write(true).open(path).unwrap();
    f.write_all_at(b"STAMPED", 4096).unwrap();
    Ok(())
}

#[test]
fn xfs_shares_extents_and_the_stamp_stays_out_of_the_source() {
    if !loop_devices_available() {
        return;
    }
    let _g = lock();
    // 300 MiB: the smallest XFS that current mkfs.xfs makes; reflink is its default.
    let fs = make_fs(300 << 20, "mkfs.xfs", &["-q", "-m", "reflink=1"]);
    let src = fs.mount.dir.join("a.img");
    let data = random_file(&src, 64 << 20);
    let out = fs.mount.dir.join("b.img");
    let method = copy::copy_edit_persist(&src, &out, false, None, stamp).unwrap();
    assert_eq!(method, CopyMethod::Reflink);
    assert!(
        std::fs::read(&src).unwrap() == data,
        "stamping the copy changed the source"
    );
    let mut want = data;
    want[4096..4096 + 7].copy_from_slice(b"STAMPED");
    assert!(std::fs::read(&out).unwrap() == want, "copy differs");
    let extents = tool("filefrag", &["-v", out.to_str().unwrap()]);
    assert!(
        extents.contains("shared"),
        "the copy shares no extents with its source:\n{extents}"
    );
    assert!(leftovers(&fs.mount.dir).is_empty());
}

#[test]
fn ext4_takes_direct_io_and_a_full_filesystem_leaves_nothing_behind() {
    if !loop_devices_available() {
        return;
    }
    let _g = lock();
    let outside = workdir();
    let fs = make_fs(64 << 20, "mkfs.ext4", &["-q", "-F"]);
    let small = outside.path().join("small.img");
    let data = random_file(&small, (8 << 20) + 1234);
    let out = fs.mount.dir.join("small-copy.img");
    let method = copy::copy_edit_persist(&small, &out, false, None, stamp).unwrap();
    assert_eq!(method, CopyMethod::DirectIo);
    // Direct I/O leaves the copy out of the page cache: only the stamped page and the tail that
    // is not a whole block went through it.
    let cached = tool(
        "fincore",
        &[
            "--bytes",
            "--noheadings",
            "--output",
            "RES",
            out.to_str().unwrap(),
        ],
    );
    let cached: u64 = cached.trim().parse().unwrap();
    assert!(
        cached <= 16 * 1024,
        "{cached} bytes of the copy are in the page cache"
    );
    let mut want = data;
    want[4096..4096 + 7].copy_from_slice(b"STAMPED");
    assert!(std::fs::read(&out).unwrap() == want, "copy differs");

    let big = outside.path().join("big.img");
    random_file(&big, 96 << 20);
    let out = fs.mount.dir.join("big-copy.img");
    let err = copy::copy_edit_persist(&big, &out, false, None, stamp).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("No space left on device") && msg.contains("big.img"),
        "{msg}"
    );
    assert!(!out.exists(), "a partial copy got the final name");
    assert!(
        leftovers(&fs.mount.dir).is_empty(),
        "temp file left behind: {:?}",
        leftovers(&fs.mount.dir)
    );
}
