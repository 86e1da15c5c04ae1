//! The fuzz corpus kept in the repository: every crasher under `fuzz/regressions/<target>/`
//! is replayed through the same harness the fuzzer runs (`kateskit::fuzzing`), and the seeds
//! under `fuzz/seeds/<target>/` are real inputs the parsers accept. Regenerate the seeds with
//! `KATESKIT_UPDATE_GOLDEN=1 cargo test --test fuzz_inputs` and review the diff.

mod image_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kateskit::fuzzing::{self, SparseImage};
use kateskit::image::{self, cpio, embed};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn every_fuzz_binary_has_a_harness() {
    let bins: BTreeSet<String> = files_in(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let harnesses: BTreeSet<String> = fuzzing::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        bins, harnesses,
        "fuzz/fuzz_targets vs kateskit::fuzzing::TARGETS"
    );
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for n in &harnesses {
        assert!(
            manifest.contains(&format!("name = \"{n}\"")),
            "fuzz/Cargo.toml has no [[bin]] {n}"
        );
    }
}

#[test]
fn regressions_replay_without_panicking() {
    let mut replayed = 0;
    for (name, harness) in fuzzing::TARGETS {
        for f in files_in(&fuzz_dir().join("regressions").join(name)) {
            let data = std::fs::read(&f).unwrap();
            let r = std::panic::catch_unwind(|| harness(&data));
            assert!(r.is_ok(), "{name}: {} panics", f.display());
            replayed += 1;
        }
        for f in files_in(&fuzz_dir().join("seeds").join(name)) {
            harness(&std::fs::read(&f).unwrap());
        }
    }
    eprintln!("replayed {replayed} regression inputs");
}

/// The seeds, by target and file name, built from the image fixtures and real encodings.
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str| std::fs::read(image_common::fixture_copy(dir.path(), name)).unwrap();
    let json = r#"{"node":{"name":"n1","role":"server"},"host":{"hostname":"n1"}}"#;
    let area = embed::build_area(embed::ISO_AREA_SIZE, Some(json), &["quiet".into()]).unwrap();
    let netboot = cpio::write_newc(&area);
    let mut out = vec![
        ("locate", "seed-gpt", fuzzing::seed_for_image(&load("gpt.img.zst")).unwrap()),
        ("locate", "seed-iso", fuzzing::seed_for_image(&load("embed.iso")).unwrap()),
        ("locate", "seed-hybrid", fuzzing::seed_for_image(&load("hybrid.iso.zst")).unwrap()),
        ("locate", "seed-cpio", fuzzing::seed_for_image(&netboot).unwrap()),
        ("cpio", "seed-netboot", fuzzing::seed_for_image(&netboot).unwrap()),
        ("cmdline", "seed", b"quiet kateskit.node.name=n1 kateskit.k3s.server_url=https://10.0.0.1:6443 console=\"ttyS0,115200\"".to_vec()),
        ("merge", "seed", format!("{json}\u{1}{{\"node\":{{\"labels\":{{\"a.b/c\":\"d\"}}}}}}").into_bytes()),
        ("nocloud", "seed-json", [&[1u8][..], json.as_bytes()].concat()),
        ("nocloud", "seed-nocloud", [&[6u8, 0][..], b"instance-id: i-1\nlocal-hostname: h1\n\0#cloud-config\nhostname: h2\nssh_authorized_keys: [\"ssh-ed25519 AAAA k\"]\nwrite_files:\n- path: /etc/x\n  content: aGk=\n  encoding: b64\n"].concat()),
        ("bluestore", "seed", bluestore_label()),
        ("flat", "seed-int", b"agent/ready_timeout_s\x00300\n\x00KATESKIT_VALUE_AGENT__READY_TIMEOUT_S".to_vec()),
        ("flat", "seed-list", b"agent/write_files\x00{\"path\":\"/x\",\"content\":\"y\"}\n\x00KATESKIT_VALUE_NODE__LABELS__Ax2eBx2fC".to_vec()),
        ("flat", "seed-label", b"node/labels/topology.kubernetes.io%2Fzone\x00z1\n\x00".to_vec()),
        ("flat", "seed-values", b"bundle/traefik/values/a\x00\"true\"\n\x00".to_vec()),
    ];
    out.extend(dhcp_seeds());
    out.extend(wire_seeds());
    // The embed target: flags 0b110 (both checksums valid), then the two parts' used bytes.
    let split = area.len() - embed::KARG_REGION_SIZE;
    let used = |region: &[u8]| {
        let len = u64::from_le_bytes(region[16..24].try_into().unwrap()) as usize;
        region[..embed::HEADER_SIZE + len].to_vec()
    };
    let (config, kargs) = (used(&area[..split]), used(&area[split..]));
    let mut e = vec![0b110];
    e.extend((config.len() as u16).to_le_bytes());
    e.extend(config);
    e.extend(kargs);
    out.push(("embed", "seed", e));
    out
}

/// TFTP packets as iPXE and EDK2 send them, and a zero map as `netboot serve` writes it.
fn wire_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let rrq = |name: &str, opts: &[(&str, &str)]| {
        let mut p = vec![0, 1];
        for f in [name, "octet"] {
            p.extend(f.as_bytes());
            p.push(0);
        }
        for (k, v) in opts {
            p.extend(k.as_bytes());
            p.push(0);
            p.extend(v.as_bytes());
            p.push(0);
        }
        p
    };
    // A 9 MiB image: data, 8 MiB of zeros, then a last partial block of zeros.
    let mut image = vec![1u8; 1 << 20];
    image.resize((9 << 20) + 512, 0);
    let map = kateskit::image::zero_map::ZeroMap::scan(&mut &image[..], 1 << 20).unwrap();
    vec![
        (
            "tftp",
            "seed-ipxe-efi",
            rrq(
                "ipxe.efi",
                &[("blksize", "1468"), ("tsize", "0"), ("windowsize", "8")],
            ),
        ),
        ("tftp", "seed-plain", rrq("/undionly.kpxe", &[])),
        ("tftp", "seed-ack", vec![0, 4, 0x12, 0x34]),
        (
            "tftp",
            "seed-error",
            b"\0\x05\0\x08option refused\0".to_vec(),
        ),
        ("zero_map", "seed", map.render().into_bytes()),
    ]
}

/// Packets as PXE firmware, iPXE, UEFI HTTP boot and plain clients send them.
fn dhcp_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use dhcproto::v4::MessageType::{Discover, Release, Request};
    use kateskit::netboot::dhcp::ClientPacket;
    let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let ip = std::net::Ipv4Addr::new(192, 0, 2, 100);
    let server = std::net::Ipv4Addr::new(192, 0, 2, 1);
    vec![
        (
            "dhcp",
            "seed-bios-discover",
            ClientPacket::pxe_firmware(mac, 0).bytes(Discover),
        ),
        (
            "dhcp",
            "seed-uefi-4011",
            ClientPacket::pxe_firmware(mac, 7)
                .ciaddr(ip)
                .pxe_boot_item()
                .bytes(Request),
        ),
        (
            "dhcp",
            "seed-ipxe-discover",
            ClientPacket::pxe_firmware(mac, 7)
                .user_class(b"iPXE")
                .machine_id(&[])
                .bytes(Discover),
        ),
        (
            "dhcp",
            "seed-http-boot",
            ClientPacket::new(mac)
                .vendor_class("HTTPClient:Arch:00016")
                .arch(16)
                .bytes(Discover),
        ),
        (
            "dhcp",
            "seed-select",
            ClientPacket::new(mac)
                .requested_ip(ip)
                .server_id(server)
                .bytes(Request),
        ),
        (
            "dhcp",
            "seed-release",
            ClientPacket::new(mac)
                .ciaddr(ip)
                .server_id(server)
                .bytes(Release),
        ),
    ]
}

/// A label as Ceph's `bluestore_bdev_label_t::encode` writes it.
fn bluestore_label() -> Vec<u8> {
    let s = |out: &mut Vec<u8>, v: &str| {
        out.extend((v.len() as u32).to_le_bytes());
        out.extend(v.as_bytes());
    };
    let uuid = "dd73e57a-c8d6-4bfd-a4a6-79cb881aef4b";
    let mut body = uuid::Uuid::parse_str(uuid).unwrap().as_bytes().to_vec();
    body.extend(6_442_450_944u64.to_le_bytes());
    body.extend([1, 0, 0, 0, 2, 0, 0, 0]);
    s(&mut body, "main");
    body.extend(2u32.to_le_bytes());
    for (k, v) in [
        ("ceph_fsid", "62b5dd82-316d-4503-8ea1-c2cd7bd63f6e"),
        ("whoami", "0"),
    ] {
        s(&mut body, k);
        s(&mut body, v);
    }
    let mut out = kateskit::disk::bluestore::MAGIC.to_vec();
    out.extend(uuid.as_bytes());
    out.push(b'\n');
    out.extend([2, 1]);
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

#[test]
fn seeds_are_current_and_accepted() {
    let update = std::env::var_os("KATESKIT_UPDATE_GOLDEN").is_some();
    for (target, name, bytes) in seeds() {
        let path = fuzz_dir().join("seeds").join(target).join(name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with KATESKIT_UPDATE_GOLDEN=1)",
                path.display()
            )
        });
        assert!(
            stored == bytes,
            "{} is stale (regenerate with KATESKIT_UPDATE_GOLDEN=1)",
            path.display()
        );
    }
    // The image seeds describe images whose embed area is found where the real image has it.
    let dir = tempfile::tempdir().unwrap();
    for (seed, fixture) in [("seed-gpt", "gpt.img.zst"), ("seed-iso", "embed.iso")] {
        let real = std::fs::read(image_common::fixture_copy(dir.path(), fixture)).unwrap();
        let want = image::locate_bytes(&real).unwrap();
        let bytes = std::fs::read(fuzz_dir().join("seeds/locate").join(seed)).unwrap();
        let got = image::locate_in(&SparseImage::decode(&bytes)).unwrap();
        assert_eq!(got, want, "{seed}");
    }
    assert!(embed::read_area_required(&{
        let mut area = vec![0u8; embed::ISO_AREA_SIZE];
        let e = std::fs::read(fuzz_dir().join("seeds/embed/seed")).unwrap();
        let n = u16::from_le_bytes([e[1], e[2]]) as usize;
        area[..n].copy_from_slice(&e[3..3 + n]);
        let k = &e[3 + n..];
        let split = embed::ISO_AREA_SIZE - embed::KARG_REGION_SIZE;
        area[split..split + k.len()].copy_from_slice(k);
        area
    })
    .is_ok());
    // The wire seeds are what the servers accept: iPXE's request with its options, and the map
    // of one data block followed by zeros to the image's end.
    use kateskit::netboot::tftp::packet::{self, Packet};
    match packet::parse(&std::fs::read(fuzz_dir().join("seeds/tftp/seed-ipxe-efi")).unwrap()) {
        Ok(Packet::Read { file, options, .. }) => {
            assert_eq!(file, "ipxe.efi");
            assert_eq!((options.blksize, options.windowsize), (Some(1468), Some(8)));
            assert!(options.tsize);
        }
        other => panic!("seed-ipxe-efi reads as {other:?}"),
    }
    let map = std::fs::read(fuzz_dir().join("seeds/zero_map/seed")).unwrap();
    let map = kateskit::image::zero_map::ZeroMap::parse(&map, "seed").unwrap();
    assert_eq!(map.runs(), &[(1 << 20, (8 << 20) + 512)]);
}
