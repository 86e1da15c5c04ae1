//! Nix evaluation tier for what the images decide at boot: the raw image's initrd storage
//! drivers (each name checked against Debian's generic 6.1 kernel, so none is a typo), its
//! two-slot boot (ESP entries, the store slot it mounts), the ISO's volume label against the
//! config-drive labels, and the host module leaving /etc/hostname to the agent. Evaluated from the files with stand-ins for
//! `lib`, `pkgs` and `config`; each case forces only the attributes it checks.

mod nixtool;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use kateskit::agent::ladder::drive::LABELS;
use nixtool::{eval_json, nix_str};

const LIB: &str = r#"lib = {
  mkIf = c: x: x; mkDefault = x: x; mkForce = x: x; mkOption = x: x;
  types = { nullOr = t: t; str = "str"; bool = "bool"; path = "path"; };
  optional = c: x: if c then [ x ] else [ ];
  optionalString = c: s: if c then s else "";
  concatLists = builtins.concatLists; attrValues = builtins.attrValues; elem = builtins.elem;
  concatStringsSep = builtins.concatStringsSep;
  toUpper = builtins.replaceStrings
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ]
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
};"#;

const PKGS: &str = r#"pkgs = {
  stdenv.hostPlatform.efiArch = "x64";
  systemd = "/systemd"; qemu = "/qemu";
  runCommand = n: a: s: "/run-command";
  callPackage = f: a: a // { file = "/blank-embed"; };
  writeText = name: text: { inherit name text; };
};"#;

fn eval(body: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(state.path(), &format!("let {LIB} {PKGS} in {body}"))
}

/// The raw image module, evaluated with a stand-in config.
const RAW: &str = r#"(import ./images/raw.nix { inherit lib pkgs; modulesPath = "/nixos/modules";
  config = { kateskit = { cluster.normalized = { }; node = null;
      upgrade = { version = "2.0.1"; slotSize = "3G"; espSize = "512M"; loaderTimeout = 0; }; };
    system.build = { toplevel = "/toplevel"; uki = "/uki"; image = "/image"; };
    system.boot.loader.ukiFile = "nixos-uki.efi"; }; })"#;

/// Module names of the kernel the test checks against, `-` and `_` being the same to modprobe.
fn kernel_modules() -> Option<BTreeSet<String>> {
    let Some(list) = std::env::var_os("KATESKIT_TEST_KERNEL_MODULES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "KATESKIT_TEST_KERNEL_MODULES is unset in CI; tests/run writes it"
        );
        eprintln!(
            "skipping the kernel check: KATESKIT_TEST_KERNEL_MODULES (the module names of \
             Debian's generic kernel, one a line) is unset; tests/run writes it"
        );
        return None;
    };
    let text = std::fs::read_to_string(&list).unwrap();
    Some(text.lines().map(|l| l.trim().replace('-', "_")).collect())
}

#[test]
fn the_raw_initrd_carries_a_driver_for_every_server_storage_class() {
    let Some(v) = eval(&format!(
        "{{ classes = import ./images/initrd-storage.nix; initrd = {RAW}.boot.initrd.availableKernelModules; }}"
    )) else {
        return;
    };
    let classes = v["classes"].as_object().unwrap();
    let initrd: Vec<&str> = v["initrd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    // Each class a server may boot from has its drivers in the initrd: a missing class hangs
    // the installed system waiting for its root partition.
    let want: &[(&str, &[&str])] = &[
        ("sata", &["ahci", "sd_mod"]),
        ("nvme", &["nvme"]),
        ("sas-hba", &["mpt3sas", "mpi3mr"]),
        (
            "hardware-raid",
            &["megaraid_sas", "hpsa", "smartpqi", "aacraid"],
        ),
        ("vmware", &["vmw_pvscsi"]),
        ("hyperv", &["hv_storvsc"]),
        ("virtio", &["virtio_pci", "virtio_blk", "virtio_scsi"]),
        ("usb", &["xhci_pci", "usb_storage", "uas"]),
    ];
    for (class, mods) in want {
        let got = classes
            .get(*class)
            .unwrap_or_else(|| panic!("no class {class} in images/initrd-storage.nix"));
        for m in *mods {
            assert!(
                got.as_array().unwrap().contains(&json!(m)),
                "{class} lacks {m}"
            );
            assert!(initrd.contains(m), "the raw initrd lacks {m} ({class})");
        }
    }
    let all: usize = classes.values().map(|c| c.as_array().unwrap().len()).sum();
    assert_eq!(
        initrd.len(),
        all,
        "the initrd list is every class's modules"
    );
    let Some(known) = kernel_modules() else {
        return;
    };
    assert!(known.len() > 1000, "the kernel module list looks truncated");
    let unknown: Vec<&&str> = initrd
        .iter()
        .filter(|m| !known.contains(&m.replace('-', "_")))
        .collect();
    assert!(
        unknown.is_empty(),
        "not modules of Debian's 6.1 kernel: {unknown:?}"
    );
}

#[test]
fn the_raw_image_boots_the_newest_entry_and_mounts_its_own_store_slot() {
    let Some(v) = eval(&format!(
        "let m = {RAW}; in {{ fs = m.fileSystems; esp = m.image.repart.partitions.\"00-esp\".contents;
           store = m.image.repart.partitions.\"20-store-a\"; split = m.image.repart.split;
           image = m.system.image; update = m.system.build.kateskitUpdate; post = m.boot.postBootCommands or null; }}"
    )) else {
        return;
    };
    // The UKI of this version mounts the slot named for this version, read-only: it can never
    // boot another version's closure.
    assert_eq!(
        v["fs"]["/nix/store"],
        json!({ "device": "/dev/disk/by-partlabel/kateskit_2.0.1", "fsType": "erofs", "options": ["ro"] })
    );
    assert_eq!(
        v["fs"]["/"],
        json!({ "device": "/dev/disk/by-partlabel/kateskit-data", "fsType": "ext4", "autoResize": true })
    );
    assert_eq!(v["fs"]["/boot"]["device"], "/dev/disk/by-partlabel/ESP");
    assert_eq!(v["store"]["storePaths"], json!(["/toplevel"]));
    assert_eq!(v["store"]["stripNixStorePrefix"], true);
    assert_eq!(v["split"], true);
    // The store is read-only and carries no Nix database to register any more.
    assert_eq!(v["post"], Value::Null);
    assert_eq!(v["image"], json!({ "id": "kateskit", "version": "2.0.1" }));

    let esp = v["esp"].as_object().unwrap();
    assert_eq!(
        esp["/EFI/Linux/kateskit_2.0.1.efi"]["source"], "/uki/nixos-uki.efi",
        "the UKI is installed under the blessed entry name whatever nixpkgs names the file"
    );
    assert_eq!(
        esp["/EFI/BOOT/BOOTX64.EFI"]["source"],
        "/systemd/lib/systemd/boot/efi/systemd-bootx64.efi"
    );
    let conf = esp["/loader/loader.conf"]["source"]["text"]
        .as_str()
        .unwrap();
    let lines: Vec<&str> = conf.lines().collect();
    assert_eq!(lines, ["timeout 0", "default kateskit_*", "editor no"]);

    // The release is cut from this image's split store and this UKI.
    assert_eq!(v["update"]["version"], "2.0.1");
    assert_eq!(v["update"]["image"], "/image");
    assert_eq!(v["update"]["uki"], "/uki/nixos-uki.efi");
}

fn iso(volume_id: Option<&str>) -> Option<Value> {
    let vid = volume_id.map_or("m.isoImage.volumeID".to_string(), |v| {
        nix_str(std::path::Path::new(v))
    });
    eval(&format!(
        "let m = import ./images/iso.nix {{ inherit lib pkgs; modulesPath = \"/nixos/modules\";
           config = {{ isoImage.volumeID = {vid}; kateskit = {{ cluster.normalized = {{ }}; node = null; }}; }}; }};
         in {{ label = m.isoImage.volumeID; assertions = m.assertions; }}"
    ))
}

#[test]
fn the_iso_label_is_not_a_config_drive_label() {
    let Some(v) = iso(None) else { return };
    let label = v["label"].as_str().unwrap();
    for l in LABELS {
        assert!(
            !label.eq_ignore_ascii_case(l),
            "the ISO's volume label {label} is the config-drive label {l}: the agent would read its own boot medium as the config drive"
        );
    }
    // ISO9660 volume identifier: d-characters, at most 32 (iso-image.nix asserts the length).
    assert!(label.len() <= 32, "{label}");
    assert!(
        label
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
        "{label} is not ISO9660 d-characters (A-Z, 0-9, _)"
    );
    assert_eq!(v["assertions"][0]["assertion"], true);
    // The module's own guard names every label the agent reads, and stops a build that sets
    // one of them.
    let msg = v["assertions"][0]["message"].as_str().unwrap();
    for l in LABELS {
        assert!(
            msg.contains(l),
            "the ISO assertion does not know {l}: {msg}"
        );
    }
    for bad in ["KATESKIT", "cidata", "CIDATA"] {
        let v = iso(Some(bad)).unwrap();
        assert_eq!(v["assertions"][0]["assertion"], false, "{bad} accepted");
    }
}

#[test]
fn the_host_module_leaves_the_hostname_to_the_agent() {
    let Some(v) = eval(
        "(import ./modules/host.nix { inherit lib; config.kateskit = { enable = true; serialConsole = \"ttyS0,115200\"; }; }).config.networking",
    ) else {
        return;
    };
    // Empty: NixOS does not link /etc/hostname into the store, so the agent's file stays.
    assert_eq!(v["hostName"], "");
}
