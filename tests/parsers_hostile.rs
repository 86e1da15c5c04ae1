//! Crafted images with valid checksums: every LBA, size and extent is attacker-controlled, so
//! each out-of-bounds value is a typed error naming the field and the value, no allocation is
//! sized by the input before it is checked, and nothing is written.
//!
//! All offset arithmetic in the parsers is checked (`checked_mul`/`checked_add`), so these
//! tests prove the same behaviour for debug and release builds: an overflow is an error in
//! both, never a panic (debug) or a wrap to another offset (release).

mod image_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use image_common::*;
use kateskit::image::{self, cpio, embed, gpt, LocateError};
use predicates::prelude::PredicateBooleanExt;

/// Records the largest single allocation made by a thread while it has tracking switched on.
struct Tracking;

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
}
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    if TRACK.with(Cell::get) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// The largest allocation `f` makes on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.with(|t| t.set(true));
    let r = f();
    TRACK.with(|t| t.set(false));
    (r, LARGEST.load(Ordering::Relaxed))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The fixture GPT image with `edit(header, embed_entry)` applied and both CRCs recomputed.
fn crafted_gpt(edit: impl FnOnce(&mut [u8], &mut [u8])) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut img = std::fs::read(fixture_copy(dir.path(), "gpt.img.zst")).unwrap();
    let (hdr, rest) = img.split_at_mut(1024);
    let hdr = &mut hdr[512..];
    let entries_at = le64(hdr, 72) as usize * 512 - 1024;
    let count = u32::from_le_bytes(hdr[80..84].try_into().unwrap()) as usize;
    let esize = u32::from_le_bytes(hdr[84..88].try_into().unwrap()) as usize;
    let entries = &mut rest[entries_at..entries_at + count * esize];
    let want = gpt::EMBED_TYPE_GUID.to_bytes_le();
    let i = entries
        .chunks_exact(esize)
        .position(|e| e[..16] == want)
        .expect("fixture has the embed partition");
    edit(hdr, &mut entries[i * esize..(i + 1) * esize]);
    let crc = crc32fast::hash(entries);
    hdr[88..92].copy_from_slice(&crc.to_le_bytes());
    let hsize = u32::from_le_bytes(hdr[12..16].try_into().unwrap()) as usize;
    hdr[16..20].fill(0);
    let crc = crc32fast::hash(&hdr[..hsize]);
    hdr[16..20].copy_from_slice(&crc.to_le_bytes());
    img
}

fn field_of(e: &LocateError) -> (&'static str, u64) {
    match e {
        LocateError::BadField { field, value, .. } => (field, *value),
        other => panic!("expected a field error, got {other}"),
    }
}

/// A StartingLBA whose byte offset (× 512) exceeds 2^64 and would wrap to byte 2 MiB: a clear
/// error in memory and through `image customize --in-place`, which leaves the file unchanged.
#[test]
fn gpt_lba_whose_byte_offset_overflows_is_a_clear_error() {
    let first = (1u64 << 55) + 4096;
    let img = crafted_gpt(|hdr, e| {
        hdr[48..56].copy_from_slice(&(u64::MAX / 2).to_le_bytes()); // LastUsableLBA
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&(first + 2047).to_le_bytes());
    });
    assert_eq!(
        first.wrapping_mul(512),
        2 << 20,
        "the offset wraps to 2 MiB"
    );
    let e = image::locate_bytes(&img).unwrap_err();
    assert_eq!(field_of(&e), ("StartingLBA", first));
    let msg = e.to_string();
    assert!(
        msg.contains("overflows") && msg.contains("corrupt or crafted"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (_, json) = node_config(dir.path());
    let path = dir.path().join("crafted.img");
    std::fs::write(&path, &img).unwrap();
    kateskit()
        .args(["image", "customize"])
        .arg(&path)
        .arg("--node-config")
        .arg(&json)
        .arg("--in-place")
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!("StartingLBA = {first}")))
        .stderr(predicates::str::contains("panicked").not());
    assert!(
        std::fs::read(&path).unwrap() == img,
        "the image is unchanged"
    );
}

#[test]
fn gpt_partition_outside_the_usable_lbas_is_refused() {
    let mut last_usable = 0;
    let img = crafted_gpt(|hdr, e| {
        last_usable = le64(hdr, 48);
        e[40..48].copy_from_slice(&(last_usable + 1).to_le_bytes());
    });
    let e = image::locate_bytes(&img).unwrap_err();
    assert_eq!(field_of(&e), ("EndingLBA", last_usable + 1));
    assert!(e.to_string().contains("LastUsableLBA"), "{e}");

    let img = crafted_gpt(|hdr, e| {
        let first_usable = le64(hdr, 40);
        e[32..40].copy_from_slice(&(first_usable - 1).to_le_bytes());
    });
    let e = image::locate_bytes(&img).unwrap_err();
    assert_eq!(field_of(&e).0, "StartingLBA");
}

#[test]
fn gpt_entry_array_sizes_are_capped_before_reading() {
    let img = crafted_gpt(|hdr, _| hdr[84..88].copy_from_slice(&(1u32 << 30).to_le_bytes()));
    let (r, largest) = largest_allocation(|| image::locate_bytes(&img));
    assert_eq!(field_of(&r.unwrap_err()), ("SizeOfPartitionEntry", 1 << 30));
    assert!(largest < 1 << 20, "allocated {largest} bytes");

    let img = crafted_gpt(|hdr, _| hdr[80..84].copy_from_slice(&u32::MAX.to_le_bytes()));
    let e = image::locate_bytes(&img).unwrap_err();
    assert_eq!(
        field_of(&e),
        ("NumberOfPartitionEntries", u64::from(u32::MAX))
    );

    let img = crafted_gpt(|hdr, _| hdr[72..80].copy_from_slice(&(u64::MAX / 256).to_le_bytes()));
    let e = image::locate_bytes(&img).unwrap_err();
    assert_eq!(field_of(&e), ("PartitionEntryLBA", u64::MAX / 256));
}

/// A member name claimed to be 4 GiB long is refused from the header alone.
#[test]
fn cpio_with_a_4_gib_namesize_is_refused_without_allocating() {
    let area = vec![0u8; embed::ISO_AREA_SIZE];
    let mut archive = cpio::write_newc(&area);
    archive[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"FFFFFFFF");
    let (r, largest) = largest_allocation(|| image::locate_bytes(&archive));
    assert_eq!(field_of(&r.unwrap_err()), ("c_namesize", 0xFFFF_FFFF));
    assert!(largest < 64 * 1024, "allocated {largest} bytes");

    // A file size running past the archive is refused the same way, as truncation.
    let mut archive = cpio::write_newc(&area);
    archive[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"FFFFFFF0");
    let e = image::locate_bytes(&archive).unwrap_err();
    assert!(matches!(e, LocateError::Truncated { .. }), "{e}");
}

/// The embed file's directory record points past the end of the volume.
#[test]
fn iso_extent_outside_the_volume_is_refused() {
    let mut iso = std::fs::read(fixture("embed.iso")).unwrap();
    let c = image::locate_bytes(&iso).unwrap();
    let block = (c.extent.offset / 2048) as u32;
    let mut both = block.to_le_bytes().to_vec();
    both.extend(block.to_be_bytes());
    let bad = 0xFFFF_FF00u32;
    let mut patched = 0;
    for i in 0..iso.len() - 8 {
        if iso[i..i + 8] == both[..] {
            iso[i..i + 4].copy_from_slice(&bad.to_le_bytes());
            iso[i + 4..i + 8].copy_from_slice(&bad.to_be_bytes());
            patched += 1;
        }
    }
    assert!(patched >= 1, "directory record found");
    let e = image::locate_bytes(&iso).unwrap_err();
    assert_eq!(field_of(&e), ("extent location", u64::from(bad)));
    assert!(e.to_string().contains("past the"), "{e}");
}
