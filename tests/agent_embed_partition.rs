//! Which `KATESKIT-EMBED` partition is the node's (docs/agent.md "Which embed partition"),
//! on a fake sysfs under the node's root: the root's device number comes from `stat`, so the
//! test marks that number's sysfs entry as the root partition.

mod agent_support;

use std::path::Path;

use agent_support::trust::{run_ok, warnings, NO_JOIN};
use agent_support::{Cluster, Node};
use serde_json::json;

/// One partition in a fake sysfs under the node's root, with its device node holding `data`.
fn partition(n: &Node, disk: &str, part: &str, name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = n.path(&format!("sys/devices/virtual/block/{disk}/{part}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("partition"), "1\n").unwrap();
    std::fs::write(
        dir.join("uevent"),
        format!("MAJOR=259\nDEVNAME={part}\nDEVTYPE=partition\nPARTNAME={name}\n"),
    )
    .unwrap();
    let class = n.path("sys/class/block");
    std::fs::create_dir_all(&class).unwrap();
    std::os::unix::fs::symlink(&dir, class.join(part)).unwrap();
    n.write(&format!("dev/{part}"), data);
    dir
}

/// Makes `part` the device of the node's root filesystem, as `/sys/dev/block/MAJ:MIN` says.
fn root_is(n: &Node, part_dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(n.root.path()).unwrap().dev();
    let (maj, min) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let link = n.path(&format!("sys/dev/block/{maj}:{min}"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(part_dir, link).unwrap();
}

fn area(hostname: &str) -> Vec<u8> {
    let cfg = json!({"host": {"hostname": hostname}}).to_string();
    kateskit::image::embed::build_area(262144, Some(&cfg), &[]).unwrap()
}

/// udev's by-partlabel link, pointing where udev's last event left it.
fn partlabel_link(n: &Node, part: &str) {
    let l = n.path("dev/disk/by-partlabel/KATESKIT-EMBED");
    std::fs::create_dir_all(l.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(n.path(&format!("dev/{part}")), l).unwrap();
}

fn plain_node(c: &Cluster) -> Node {
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    n
}

#[test]
fn of_two_embed_partitions_the_one_on_the_root_disk_is_read() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    partition(&n, "kk0", "kk0p1", "KATESKIT-EMBED", &area("own"));
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("other"));
    partlabel_link(&n, "kk1p1");
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "own");
    let src = n.source("host.hostname");
    assert!(
        src.contains("kk0p1 (partition KATESKIT-EMBED, root disk kk0)"),
        "{src}"
    );
    let w = warnings(&n);
    assert!(
        w.contains("kk1p1 on kk1 ignored: not on the root disk kk0"),
        "{w}"
    );
}

#[test]
fn embed_partitions_none_of_them_on_the_root_disk_are_ignored() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("one"));
    partition(&n, "kk2", "kk2p1", "KATESKIT-EMBED", &area("two"));
    partlabel_link(&n, "kk2p1");
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "a1");
    assert!(n.source("host.hostname").starts_with("image defaults"));
    let w = warnings(&n);
    assert!(w.contains("several, and none on the root disk kk0"), "{w}");
    assert!(
        w.contains("kk1p1 on kk1") && w.contains("kk2p1 on kk2"),
        "{w}"
    );
}

/// A PARTUUID the image records names its embed partition, wherever the disk is; a recorded
/// PARTUUID no partition has means none is read.
#[test]
fn a_recorded_partuuid_names_the_embed_partition() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    let uuid = "5d2a7c51-3e0b-4f6e-9a43-1b8f2c6d9e70";
    let defaults = |uuid: &str| {
        json!({"apiVersion": "kateskit.dev/v1", "kind": "ImageDefaults", "variant": "raw",
               "cluster": "rack", "node": "a1", "nodes": {"a1": cfg}, "embed_partuuid": uuid})
    };
    n.image_defaults(&defaults(uuid));
    partition(&n, "kk0", "kk0p1", "KATESKIT-EMBED", &area("rootdisk"));
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("recorded"));
    let link = n.path(&format!("dev/disk/by-partuuid/{uuid}"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(n.path("dev/kk1p1"), &link).unwrap();
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "recorded");
    assert!(
        n.source("host.hostname")
            .contains(&format!("PARTUUID {uuid}")),
        "{}",
        n.source("host.hostname")
    );
    let other = "00000000-1111-2222-3333-444444444444";
    n.image_defaults(&defaults(other));
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "a1");
    let w = warnings(&n);
    assert!(
        w.contains(&format!("the image records PARTUUID {other}")),
        "{w}"
    );
}

/// A single embed partition on another disk counts as removable media: read on the first boot,
/// ignored once the identity is recorded (what it gave then is recorded and stands in for it).
#[test]
fn an_embed_partition_on_another_disk_is_read_on_the_first_boot_only() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    let root = partition(&n, "kk0", "kk0p2", "root", b"");
    root_is(&n, &root);
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("foreign"));
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "foreign");
    let src = n.source("host.hostname");
    assert!(src.contains("on disk kk1, not the root disk"), "{src}");
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "foreign");
    let src = n.source("host.hostname");
    assert!(src.contains("recorded on the first boot"), "{src}");
    let w = warnings(&n);
    assert!(
        w.contains("kk1p1 (partition KATESKIT-EMBED on disk kk1, not the root disk) ignored: removable media are read on the first boot only"),
        "{w}"
    );
}

/// A root on device-mapper (LVM, LUKS) is followed through `slaves/` to the disk under it.
#[test]
fn a_device_mapper_root_is_followed_to_its_disk() {
    let c = Cluster::new("rack");
    let n = plain_node(&c);
    partition(&n, "kk0", "kk0p1", "KATESKIT-EMBED", &area("own"));
    let pv = partition(&n, "kk0", "kk0p3", "lvm", b"");
    partition(&n, "kk1", "kk1p1", "KATESKIT-EMBED", &area("other"));
    let dm = n.path("sys/devices/virtual/block/dm-0");
    std::fs::create_dir_all(dm.join("slaves")).unwrap();
    std::os::unix::fs::symlink(&pv, dm.join("slaves/kk0p3")).unwrap();
    root_is(&n, &dm);
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "own");
    assert!(n.source("host.hostname").contains("root disk kk0"));
}
