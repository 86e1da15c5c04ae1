use super::*;

const SRC: &str = "http://192.0.2.1:8080/zeros/install.img";

fn parse(text: &str) -> Result<ZeroMap, ZeroMapError> {
    ZeroMap::parse(text.as_bytes(), SRC)
}

fn refused(text: &str, want: &str) {
    let e = parse(text).unwrap_err().to_string();
    assert!(e.contains(SRC), "names the source: {e}");
    assert!(e.contains(want), "{want:?} in {e}");
    assert!(e.contains("regenerate the map"), "names the fix: {e}");
}

#[test]
fn good_maps_parse_and_render_back() {
    let text = "kateskit-zero-map 1 10000 1024\n0 2048\n4096 1024\n9216 784\n";
    let m = parse(text).unwrap();
    assert_eq!(m.image_len(), 10000);
    assert_eq!(m.runs(), &[(0, 2048), (4096, 1024), (9216, 784)]);
    assert_eq!(m.zero_bytes(), 2048 + 1024 + 784);
    assert_eq!(m.render(), text);
    // No runs, and no final newline.
    let m = parse("kateskit-zero-map 1 4096 512").unwrap();
    assert!(m.runs().is_empty());
    // Touching runs merge into one.
    let m = parse("kateskit-zero-map 1 8192 1024\n0 1024\n1024 2048\n").unwrap();
    assert_eq!(m.runs(), &[(0, 3072)]);
}

#[test]
fn covers_only_ranges_wholly_inside_a_run() {
    let m = parse("kateskit-zero-map 1 10000 1024\n1024 3072\n9216 784\n").unwrap();
    assert!(m.covers(1024, 3072));
    assert!(m.covers(2048, 1024));
    assert!(!m.covers(0, 2048), "starts before the run");
    assert!(!m.covers(3072, 2048), "ends after the run");
    assert!(!m.covers(5000, 10));
    assert!(m.covers(9216, 784));
    assert!(!m.covers(9216, 785));
    assert!(!m.covers(2048, 0));
    assert!(!m.covers(u64::MAX, 2));
}

#[test]
fn every_malformed_map_is_refused_naming_the_line() {
    refused("", "the header must be");
    refused("kateskit-zero-map 1 100\n", "the header must be");
    refused("bmap 1 100 512\n", "the header must be");
    refused("kateskit-zero-map 2 100 512\n", "version \"2\"");
    refused("kateskit-zero-map 1 +100 512\n", "decimal numbers");
    refused("kateskit-zero-map 1 100 0x200\n", "decimal numbers");
    refused(
        "kateskit-zero-map 1 99999999999999999999999 512\n",
        "decimal",
    );
    refused("kateskit-zero-map 1 0 512\n", "image length is 0");
    refused("kateskit-zero-map 1 4096 1000\n", "not a power of two");
    refused("kateskit-zero-map 1 4096 256\n", "not a power of two");
    refused("kateskit-zero-map 1 4096 512\n0\n", "line 2");
    refused("kateskit-zero-map 1 4096 512\n0 512 1\n", "START LEN");
    refused("kateskit-zero-map 1 4096 512\n0  512\n", "START LEN");
    refused("kateskit-zero-map 1 4096 512\n0 -512\n", "START LEN");
    refused("kateskit-zero-map 1 4096 512\n0 512\n\n", "line 3");
    refused("kateskit-zero-map 1 4096 512\r\n0 512\n", "decimal numbers");
    refused("kateskit-zero-map 1 4096 512\n0 0\n", "an empty run");
    refused("kateskit-zero-map 1 4096 512\n100 512\n", "not a multiple");
    refused(
        "kateskit-zero-map 1 4096 512\n0 100\n",
        "neither a block boundary",
    );
    refused(
        "kateskit-zero-map 1 4096 512\n3584 1024\n",
        "past the image's end",
    );
    refused(
        "kateskit-zero-map 1 4096 512\n18446744073709551104 1024\n",
        "overflows",
    );
    refused(
        "kateskit-zero-map 1 4096 512\n1024 512\n0 512\n",
        "out of order or overlaps",
    );
    refused(
        "kateskit-zero-map 1 4096 512\n0 1024\n512 512\n",
        "out of order or overlaps",
    );
    let e = ZeroMap::parse(&[0xff, 0xfe], SRC).unwrap_err().to_string();
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn the_size_and_run_caps_hold() {
    let big = vec![b'0'; MAX_BYTES + 1];
    let e = ZeroMap::parse(&big, SRC).unwrap_err().to_string();
    assert!(e.contains("limit") && e.contains(SRC), "{e}");
    let block = 512u64;
    let mut text = format!(
        "kateskit-zero-map 1 {} {block}\n",
        block * 2 * (MAX_RUNS as u64 + 1)
    );
    for i in 0..=MAX_RUNS as u64 {
        text.push_str(&format!("{} {block}\n", i * 2 * block));
    }
    refused(&text, &format!("more than {MAX_RUNS} runs"));
}

#[test]
fn the_builder_finds_runs_at_the_start_the_middle_and_the_end() {
    let b = 4096usize;
    let mut img = vec![0u8; 2 * b]; // blocks 0-1: zero
    img.extend(vec![7u8; b]); // block 2: data
    img.extend(vec![0u8; 3 * b]); // blocks 3-5: zero
    let mut one = vec![0u8; b];
    one[b - 1] = 1;
    img.extend(&one); // block 6: a single non-zero byte at its end
    img.extend(vec![0u8; b + 100]); // block 7 and a partial block 8: zero to the end
    let m = ZeroMap::scan(&mut img.as_slice(), b as u64).unwrap();
    assert_eq!(m.image_len(), img.len() as u64);
    let b = b as u64;
    assert_eq!(m.runs(), &[(0, 2 * b), (3 * b, 3 * b), (7 * b, b + 100)]);
    // What it renders parses back to the same map.
    assert_eq!(parse(&m.render()).unwrap(), m);
    // A file with no zeros, and one that is all zeros.
    let m = ZeroMap::scan(&mut vec![1u8; 3 * b as usize].as_slice(), b).unwrap();
    assert!(m.runs().is_empty());
    let m = ZeroMap::scan(&mut vec![0u8; 5000].as_slice(), b).unwrap();
    assert_eq!(m.runs(), &[(0, 5000)]);
}

#[test]
fn the_builder_scans_a_file_in_mib_blocks() {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&[0x55; 10]).unwrap();
    f.set_len(5 * BLOCK + 10).unwrap();
    f.seek(SeekFrom::Start(3 * BLOCK)).unwrap();
    f.write_all(&[1]).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let m = ZeroMap::scan(&mut f, BLOCK).unwrap();
    assert_eq!(m.runs(), &[(BLOCK, 2 * BLOCK), (4 * BLOCK, BLOCK + 10)]);
}
