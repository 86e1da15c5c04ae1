//! Real-tool tier for the ISO embed area: builds an ISO with the xorriso invocation of nixpkgs'
//! `nixos/lib/make-iso9660-image.sh` (the flags images/iso.nix gets through the iso-image
//! module; NixOS/nixpkgs @ f5d2ad94) and the `isoImage.contents` entry images/iso.nix adds, then
//! checks the contract: primary name `KATESKIT/EMBED.IMG;1`, Rock Ridge name
//! `/kateskit/embed.img`, exactly 262144 zero bytes in one extent, stampable in place.
//! This reproduces the Nix build's ISO step with the same tool; it is not the Nix build itself.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

const SIZE: usize = 262144;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("-version").output().is_ok();
    if !ok {
        eprintln!("skipping: {tool} not found (Debian packages xorriso and genisoimage; tests/run installs them)");
    }
    ok
}

/// Builds the ISO the way make-iso9660-image.sh does (without boot images).
fn build_iso(dir: &Path) -> std::path::PathBuf {
    let embed = dir.join("embed.img");
    std::fs::write(&embed, vec![0u8; SIZE]).unwrap();
    std::fs::write(dir.join("other"), b"store path stand-in\n").unwrap();
    let list = format!(
        "kateskit/embed.img={}\nnix/store/0000-x/other={}\n",
        embed.display(),
        dir.join("other").display()
    );
    std::fs::write(dir.join("pathlist"), list).unwrap();
    let iso = dir.join("out.iso");
    let args = "-as mkisofs -iso-level 3 -volid KATESKIT -appid nixos -publisher nixos -graft-points -full-iso9660-filenames -joliet -r -path-list pathlist --sort-weight 0 / -output out.iso";
    let out = Command::new("xorriso")
        .args(args.split(' '))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xorriso failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    iso
}

/// (size, extent LBA) of `name` in the `isoinfo -l` listing of `dir_header`.
fn listing(iso: &Path, rock_ridge: bool, dir_header: &str, name: &str) -> Option<(usize, u64)> {
    let mut c = Command::new("isoinfo");
    c.arg("-i").arg(iso).arg("-l");
    if rock_ridge {
        c.arg("-R");
    }
    let text = String::from_utf8(c.output().unwrap().stdout).unwrap();
    let section = text
        .split("Directory listing of ")
        .find(|s| s.starts_with(dir_header))?;
    let line = section
        .lines()
        .find(|l| l.trim_end().ends_with(&format!("]  {name}")))?;
    let (before, _) = line.split_once(']')?;
    let (head, ext) = before.rsplit_once('[')?;
    let size = head.split_whitespace().rev().nth(3)?.parse().ok()?;
    let lba = ext.split_whitespace().next()?.parse().ok()?;
    Some((size, lba))
}

#[test]
fn iso_embed_file_has_the_contract_names_size_and_one_extent() {
    if !have("xorriso") || !have("isoinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let iso = build_iso(dir.path());
    let primary = listing(&iso, false, "/KATESKIT/", "EMBED.IMG;1")
        .expect("primary name KATESKIT/EMBED.IMG;1 in the ISO9660 tree");
    let rr = listing(&iso, true, "/kateskit/", "embed.img")
        .expect("Rock Ridge name /kateskit/embed.img");
    assert_eq!(primary, rr, "both names point at the same extent");
    assert_eq!(primary.0, SIZE);

    // Pristine: the extent holds zeros.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&iso)
        .unwrap();
    let off = primary.1 * 2048;
    let mut buf = vec![1u8; SIZE];
    f.seek(SeekFrom::Start(off)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "embed area is not all zeros");

    // Stamped in place, the file as the ISO's reader sees it changes with it (one extent).
    let stamp: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    f.seek(SeekFrom::Start(off)).unwrap();
    f.write_all(&stamp).unwrap();
    drop(f);
    let out = dir.path().join("extracted");
    let x = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/kateskit/embed.img"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), stamp);
}
