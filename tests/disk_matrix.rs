//! Every disk state, made by the real tool on a loop device, crossed with every wipe policy
//! through `prepare_osd_disks_with`. Refusals, accepts and keeps must leave every byte alone;
//! wipes must leave a disk that `blkid -p`, `wipefs -n`, `sgdisk -p` and the classifier all
//! call blank. Runs as root. The udev database is a stand-in directory holding one
//! `b<major>:<minor>` file per loop device, because loop devices have no serial number.

mod common;

use std::path::PathBuf;

use common::states::*;
use common::{lock, loop_devices_available};
use kateskit::disk::{prepare_osd_disks_with, CephKnowledge, PrepareError, Taken};
use kateskit::spec::{OsdDisk, WipePolicy};

const THIS_FSID: &str = "6a0c1e62-3c1b-4e7a-9a52-0c8f3f1e2d11";
const OTHER_FSID: &str = "0d9f4b7e-8e2a-4b55-b0a4-5d2c7c9e6f00";

fn this_cluster() -> CephKnowledge {
    CephKnowledge::new(THIS_FSID, Vec::new()).unwrap()
}

/// The four policy columns: never, if-foreign, always with the right serial, always with a wrong one.
fn policies(serial: &str) -> [(WipePolicy, Option<String>); 4] {
    [
        (WipePolicy::Never, None),
        (WipePolicy::IfForeign, None),
        (WipePolicy::Always, Some(serial.to_string())),
        (WipePolicy::Always, Some("NOT-THIS-DISK".to_string())),
    ]
}

/// Runs one matrix row twice: with discard (loop devices punch holes, so the discard alone
/// zeroes everything, as on an SSD that zeroes trimmed blocks) and without (as on a disk
/// without discard support, where the recipe's own writes must do it all).
fn row(name: &str, state: &str, build: fn() -> Fixture, expect: [&str; 4]) {
    row_naming(name, state, build, None, expect);
}

/// A row whose disks carry `foreign_fsid` (the owner naming another cluster's fsid).
fn row_naming(
    name: &str,
    state: &str,
    build: fn() -> Fixture,
    foreign: Option<&str>,
    expect: [&str; 4],
) {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    row_once(name, state, build, foreign, expect, true);
    row_once(name, state, build, foreign, expect, false);
}

/// Builds the state (again after each wipe) and checks each policy column.
fn row_once(
    name: &str,
    state: &str,
    build: fn() -> Fixture,
    foreign: Option<&str>,
    expect: [&str; 4],
    discard: bool,
) {
    let mut current: Option<Fixture> = None;
    for (col, want) in expect.iter().enumerate() {
        let fx = current.get_or_insert_with(build);
        let mut e = env_for(&fx.lo);
        e.env.discard = discard;
        let (policy, confirm) = policies(&e.serial)[col].clone();
        let what = format!(
            "{name} × {}{} ({})",
            policy.as_str(),
            if col == 3 { " (wrong serial)" } else { "" },
            if discard {
                "with discard"
            } else {
                "no discard"
            }
        );
        let disk = OsdDisk {
            by_id: e.by_id.clone(),
            wipe: policy,
            confirm_serial: confirm,
            foreign_fsid: foreign.map(str::to_string),
        };
        let before = fx.lo.digest();
        let result = prepare_osd_disks_with(std::slice::from_ref(&disk), &this_cluster(), &e.env);
        match (result, *want) {
            (Err(PrepareError::Refused { refusals, .. }), "refuse") => {
                assert_eq!(refusals.len(), 1, "{what}");
                let text = refusals[0].to_string();
                assert!(
                    text.contains(&e.by_id) && !refusals[0].allow.is_empty(),
                    "{what}: {text}"
                );
                assert_eq!(fx.lo.digest(), before, "{what}: refused disk changed");
            }
            (Ok(reports), "accept" | "keep") => {
                let r = &reports[0];
                assert_eq!(r.before.state, state, "{what}: {}", r.before);
                let taken = if *want == "accept" {
                    Taken::Accepted
                } else {
                    Taken::Kept
                };
                assert_eq!(r.action, taken, "{what}");
                assert_eq!(r.after.state, state, "{what}");
                assert_eq!(fx.lo.digest(), before, "{what}: accepted disk changed");
            }
            (Ok(reports), "wipe") => {
                let r = &reports[0];
                assert_eq!(
                    (r.before.state, r.action, r.after.state),
                    (state, Taken::Wiped, "blank"),
                    "{what}"
                );
                let log = r.wipe.as_ref().expect("a wipe report");
                assert!(!log.zeroed.is_empty(), "{what}");
                assert_eq!(log.discarded, discard, "{what}");
                assert_tools_see_blank(&fx.lo, &what);
                current = None; // the state is gone; rebuild it for the next column
            }
            (got, want) => panic!("{what}: expected {want}, got {got:?}"),
        }
    }
}

#[test]
fn blank_disk() {
    row(
        "blank",
        "blank",
        blank,
        ["accept", "accept", "accept", "accept"],
    );
}

#[test]
fn gpt_without_filesystems() {
    row(
        "gpt",
        "partition-table",
        || gpt(false),
        ["refuse", "wipe", "wipe", "refuse"],
    );
}

/// Partitions without any signature but with bytes in them (plain dm-crypt, VeraCrypt, an
/// application's raw data, a damaged superblock) are data, not an empty table.
#[test]
fn gpt_with_unrecognised_data_in_a_partition() {
    row(
        "gpt+raw-data",
        "partition-table",
        gpt_with_raw_data,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn gpt_with_a_filesystem_in_a_partition() {
    row(
        "gpt+ext4",
        "partition-table",
        || gpt(true),
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn gpt_with_only_its_backup_header() {
    row(
        "gpt-backup",
        "other-signature",
        gpt_backup_only,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn ext4_with_a_file() {
    row(
        "ext4",
        "filesystem",
        ext4_with_file,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn vfat_filesystem() {
    row(
        "vfat",
        "filesystem",
        vfat,
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn lvm_physical_volume_with_a_volume_group() {
    row(
        "lvm-pv",
        "lvm-pv",
        || lvm(false),
        ["refuse", "refuse", "wipe", "refuse"],
    );
}

#[test]
fn luks_volume() {
    row("luks", "luks", luks, ["refuse", "refuse", "wipe", "refuse"]);
}

#[test]
fn ceph_osd_of_this_cluster() {
    row(
        "osd-this",
        "ceph-osd-this-cluster",
        || osd(THIS_FSID),
        ["keep", "keep", "keep", "keep"],
    );
}

/// An OSD whose fsid is not this cluster's may still be this cluster's own (made before the
/// identity was pre-seeded, its record lost): never wiped on a guess, under any policy.
#[test]
fn ceph_osd_of_another_fsid_is_never_wiped_on_a_guess() {
    row(
        "osd-other",
        "ceph-osd-other-cluster",
        || osd(OTHER_FSID),
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

/// The owner names the other cluster's fsid: now it is provably foreign.
#[test]
fn ceph_osd_of_a_cluster_the_owner_named_as_foreign() {
    row_naming(
        "osd-named-foreign",
        "ceph-osd-other-cluster",
        || osd(OTHER_FSID),
        Some(OTHER_FSID),
        ["refuse", "wipe", "wipe", "refuse"],
    );
}

#[test]
fn mounted_filesystem() {
    row(
        "mounted",
        "in-use",
        mounted,
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

#[test]
fn active_lvm_volume() {
    if !common::device_mapper_available() {
        return;
    }
    row(
        "lvm-active",
        "in-use",
        || lvm(true),
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

#[test]
fn one_gigabyte_disk() {
    row(
        "small",
        "too-small",
        small,
        ["refuse", "refuse", "refuse", "refuse"],
    );
}

/// Two disks, one wipeable and one refused: nothing at all is written.
#[test]
fn one_refusal_stops_every_wipe() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let (a, b) = (osd(OTHER_FSID), ext4_with_file());
    let (ea, eb) = (env_for(&a.lo), env_for(&b.lo));
    // Both links live in one stand-in /dev; the udev stand-in is not needed (no "always").
    let dev = ea.env.dev_dir.clone();
    let link = PathBuf::from(&eb.by_id)
        .strip_prefix("/dev")
        .unwrap()
        .to_path_buf();
    std::os::unix::fs::symlink(&b.lo.dev, dev.join(link)).unwrap();
    let disks = [
        OsdDisk {
            by_id: ea.by_id.clone(),
            wipe: WipePolicy::IfForeign,
            confirm_serial: None,
            foreign_fsid: Some(OTHER_FSID.into()),
        },
        OsdDisk {
            by_id: eb.by_id.clone(),
            wipe: WipePolicy::IfForeign,
            confirm_serial: None,
            foreign_fsid: None,
        },
    ];
    let (da, db) = (a.lo.digest(), b.lo.digest());
    let err = prepare_osd_disks_with(&disks, &this_cluster(), &ea.env).unwrap_err();
    let PrepareError::Refused { refusals, total } = &err else {
        panic!("expected a refusal, got {err}")
    };
    assert_eq!((refusals.len(), *total), (1, 2));
    assert!(
        err.to_string().contains(&eb.by_id) && err.to_string().contains("ext4"),
        "{err}"
    );
    assert_eq!(
        (a.lo.digest(), b.lo.digest()),
        (da, db),
        "a disk was written despite a refusal"
    );
}

/// An empty or garbled cluster fsid must not turn this cluster's OSD into a "foreign" one.
#[test]
fn a_missing_cluster_fsid_fails_closed() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let fx = osd(THIS_FSID);
    let e = env_for(&fx.lo);
    let disk = OsdDisk {
        by_id: e.by_id.clone(),
        wipe: WipePolicy::IfForeign,
        confirm_serial: None,
        foreign_fsid: None,
    };
    let before = fx.lo.digest();
    for bad in ["", "not-a-uuid"] {
        let err = CephKnowledge::new(bad, Vec::new()).unwrap_err();
        assert!(matches!(err, PrepareError::InvalidFsid(_)), "{err}");
        assert!(err.to_string().contains("secrets.ceph_fsid"), "{err}");
    }
    assert_eq!(fx.lo.digest(), before);
    // The same fsid in upper case is still this cluster.
    let upper = CephKnowledge::new(&THIS_FSID.to_uppercase(), Vec::new()).unwrap();
    let reports = prepare_osd_disks_with(&[disk], &upper, &e.env).unwrap();
    assert_eq!(reports[0].action, Taken::Kept);
}
