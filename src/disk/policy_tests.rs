//! Every state crossed with every policy, checked against the table in `policy.rs`.

use std::path::PathBuf;

use super::*;
use crate::disk::probe::{Partition, Signature, Table};
use crate::disk::{Blocker, DiskUse};

const ID: &str = "/dev/disk/by-id/ata-X_SER1";

fn sig(kind: &str, usage: &str) -> Signature {
    Signature {
        kind: kind.into(),
        usage: usage.into(),
        label: None,
        uuid: None,
        version: None,
        offset: None,
    }
}

fn disk(content: Content, blockers: Vec<Blocker>) -> Classification {
    Classification {
        device: PathBuf::from(ID),
        canonical: PathBuf::from("/dev/sdz"),
        size: 8 << 30,
        serial: Some("SER1".into()),
        state: "test",
        content,
        blockers,
        signatures: vec![],
    }
}

fn osd(cluster: OsdCluster) -> Content {
    Content::CephOsd {
        osd_uuid: None,
        osd_id: Some("3".into()),
        ceph_fsid: Some("f".into()),
        cluster,
    }
}

fn table(sigs: Vec<Signature>) -> Content {
    let zeroed = sigs.is_empty();
    table_with(sigs, zeroed)
}

fn table_with(sigs: Vec<Signature>, zeroed: bool) -> Content {
    let p = Partition {
        number: 1,
        start: 1 << 20,
        size: 1 << 30,
        name: None,
        part_type: "x".into(),
        zeroed,
        signatures: sigs,
    };
    Content::PartitionTable {
        table: Table {
            kind: "gpt".into(),
            partitions: vec![p],
        },
    }
}

fn ext4() -> Content {
    Content::Filesystem {
        fstype: "ext4".into(),
        label: None,
        uuid: None,
    }
}

fn declared(p: WipePolicy, confirm: Option<&str>, foreign: Option<&str>) -> OsdDisk {
    OsdDisk {
        by_id: ID.into(),
        wipe: p,
        confirm_serial: confirm.map(str::to_string),
        foreign_fsid: foreign.map(str::to_string),
    }
}

fn act_named(
    c: &Content,
    p: WipePolicy,
    confirm: Option<&str>,
    foreign: Option<&str>,
) -> &'static str {
    match decide(&disk(c.clone(), vec![]), &declared(p, confirm, foreign)) {
        Action::Accept => "accept",
        Action::Keep => "keep",
        Action::Wipe => "wipe",
        Action::Refuse(_) => "refuse",
    }
}

fn act(c: &Content, p: WipePolicy, confirm: Option<&str>) -> &'static str {
    act_named(c, p, confirm, None)
}

#[test]
fn the_documented_table_holds() {
    use WipePolicy::*;
    let ok = Some("SER1");
    let rows: Vec<(Content, [&str; 3])> = vec![
        (Content::Blank, ["accept", "accept", "accept"]),
        (osd(OsdCluster::This), ["keep", "keep", "keep"]),
        (osd(OsdCluster::Other), ["refuse", "refuse", "refuse"]),
        (osd(OsdCluster::Unknown), ["refuse", "refuse", "refuse"]),
        (table(vec![]), ["refuse", "wipe", "wipe"]),
        (table_with(vec![], false), ["refuse", "refuse", "wipe"]),
        (
            table(vec![sig("swap", "other")]),
            ["refuse", "wipe", "wipe"],
        ),
        (
            table(vec![sig("xfs", "filesystem")]),
            ["refuse", "refuse", "wipe"],
        ),
        (ext4(), ["refuse", "refuse", "wipe"]),
        (Content::LvmPv { uuid: None }, ["refuse", "refuse", "wipe"]),
        (
            Content::Luks {
                version: None,
                uuid: None,
            },
            ["refuse", "refuse", "wipe"],
        ),
        (
            Content::MdraidMember {
                uuid: None,
                label: None,
            },
            ["refuse", "refuse", "wipe"],
        ),
    ];
    for (content, want) in rows {
        let got = [
            act(&content, Never, None),
            act(&content, IfForeign, None),
            act(&content, Always, ok),
        ];
        assert_eq!(got, want, "{content}");
    }
}

#[test]
fn only_an_osd_whose_fsid_the_owner_named_is_wiped() {
    use WipePolicy::*;
    let other = osd(OsdCluster::Other);
    let got = [
        act_named(&other, IfForeign, None, Some("F")),
        act_named(&other, Always, Some("SER1"), Some("f")),
        act_named(&other, Always, Some("SER2"), Some("f")),
        act_named(&other, IfForeign, None, Some("g")),
    ];
    assert_eq!(got, ["wipe", "wipe", "refuse", "refuse"]);
    // A label that cannot be read is never wiped, whatever the owner named.
    let unknown = osd(OsdCluster::Unknown);
    assert_eq!(
        act_named(&unknown, Always, Some("SER1"), Some("f")),
        "refuse"
    );
    let Action::Refuse(r) = decide(&disk(other, vec![]), &declared(IfForeign, None, None)) else {
        panic!()
    };
    assert!(r.reason.contains("never wiped on a guess"), "{}", r.reason);
    assert_eq!(
        r.allow,
        format!("if it is another cluster's OSD that may be destroyed: {{ by_id = \"{ID}\", wipe = \"if-foreign\", foreign_fsid = \"f\" }}")
    );
}

#[test]
fn refusals_name_the_disk_the_content_and_the_exact_setting() {
    let Action::Refuse(r) = decide(
        &disk(ext4(), vec![]),
        &declared(WipePolicy::Never, None, None),
    ) else {
        panic!()
    };
    assert_eq!(r.device, format!("{ID} (/dev/sdz)"));
    assert_eq!(r.found, "ext4 filesystem");
    assert_eq!(
        r.allow,
        format!("{{ by_id = \"{ID}\", wipe = \"always\", confirm_serial = \"SER1\" }}")
    );
    let text = r.to_string();
    assert!(
        text.contains("/dev/sdz") && text.contains("ext4") && text.contains("confirm_serial"),
        "{text}"
    );
    let Action::Refuse(r) = decide(
        &disk(table(vec![]), vec![]),
        &declared(WipePolicy::Never, None, None),
    ) else {
        panic!()
    };
    assert_eq!(
        r.allow,
        format!("{{ by_id = \"{ID}\", wipe = \"if-foreign\" }}")
    );
}

#[test]
fn always_demands_the_matching_serial() {
    let c = disk(ext4(), vec![]);
    assert!(matches!(
        decide(&c, &declared(WipePolicy::Always, None, None)),
        Action::Refuse(_)
    ));
    let Action::Refuse(r) = decide(&c, &declared(WipePolicy::Always, Some("SER2"), None)) else {
        panic!()
    };
    assert!(
        r.reason.contains("\"SER2\"") && r.reason.contains("\"SER1\""),
        "{}",
        r.reason
    );
    let mut no_serial = c.clone();
    no_serial.serial = None;
    let Action::Refuse(r) = decide(
        &no_serial,
        &declared(WipePolicy::Always, Some("SER1"), None),
    ) else {
        panic!()
    };
    assert!(r.allow.starts_with("nothing"), "{}", r.allow);
    assert_eq!(
        decide(&c, &declared(WipePolicy::Always, Some("SER1"), None)),
        Action::Wipe
    );
}

#[test]
fn blockers_refuse_under_every_policy() {
    let uses = vec![DiskUse::Mounted {
        device: "/dev/sdz1".into(),
        mountpoint: "/srv".into(),
    }];
    for b in [
        Blocker::InUse { uses },
        Blocker::BootDisk {
            mountpoint: "/".into(),
        },
        Blocker::TooSmall {
            size: 1 << 30,
            min: 5 << 30,
        },
    ] {
        for content in [Content::Blank, osd(OsdCluster::This), ext4()] {
            let c = disk(content, vec![b.clone()]);
            for p in [WipePolicy::Never, WipePolicy::IfForeign, WipePolicy::Always] {
                let Action::Refuse(r) = decide(&c, &declared(p, Some("SER1"), None)) else {
                    panic!("{b} under {p:?}")
                };
                assert_eq!(r.reason, b.to_string());
            }
        }
    }
}
