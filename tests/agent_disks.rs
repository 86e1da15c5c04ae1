//! The agent's disks phase and bundle manifests, through the real disk module on loop devices
//! (root): blank disks are accepted and journaled, a disk holding data stops the node before
//! k3s, this cluster's OSDs survive the loss of all node-local state, an OSD nobody vouches for
//! is refused rather than wiped, and servers get the rendered bundle including Rook's CephCluster.

mod agent_support;

use std::process::Command;

use agent_support::loopdev::make_osd;
use agent_support::{Cluster, Node};

const NO_JOIN: &str = "console=ttyS0 kateskit.agent.verify_join=false";

/// Node a1 of examples/rack with its OSD disks on blank loop devices, join check off.
fn rack_a1() -> (Cluster, serde_json::Value, Node) {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n.set_cmdline(NO_JOIN);
    (c, cfg, n)
}

fn phase(j: &serde_json::Value, name: &str) -> (String, String) {
    let p = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    (
        p["outcome"].as_str().unwrap().to_string(),
        p["detail"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn blank_disks_are_accepted_and_journaled() {
    let (_c, cfg, n) = rack_a1();
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = n.journal();
    assert_eq!(phase(&j, "disks").0, "done");
    let disks = j["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 2);
    for (d, want) in disks
        .iter()
        .zip(cfg["storage"]["osd_disks"].as_array().unwrap())
    {
        assert_eq!(d["by_id"], want["by_id"]);
        assert_eq!(d["before"]["state"], "blank");
        assert_eq!(d["action"], "accepted");
        assert_eq!(d["after"]["state"], "blank");
        assert_eq!(
            d["before"]["canonical"].as_str().unwrap(),
            n.osd_device(want["by_id"].as_str().unwrap())
                .to_str()
                .unwrap()
        );
    }
}

#[test]
fn a_disk_with_a_filesystem_stops_the_node_before_k3s() {
    let (_c, cfg, n) = rack_a1();
    let by_id = cfg["storage"]["osd_disks"][1]["by_id"].as_str().unwrap();
    let dev = n.osd_device(by_id);
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "data"])
        .arg(&dev)
        .output()
        .unwrap();
    assert!(mkfs.status.success());
    let before = n.osd_digest(by_id);
    let systemctl_log = n.aux().join("systemctl.log");
    let script = n.aux().join("systemctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", systemctl_log.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    let out = n.run(&[("KATESKIT_SYSTEMCTL", script.to_str().unwrap())]);
    assert!(!out.status.success());
    let j = n.journal();
    let (outcome, detail) = phase(&j, "disks");
    assert_eq!(outcome, "failed");
    // wipe = "if-foreign" on this disk, and ext4 may hold data: refused, with the way out named.
    assert!(detail.contains(by_id), "{detail}");
    assert!(detail.contains("ext4"), "{detail}");
    assert!(
        detail.contains("nothing was written to any disk"),
        "{detail}"
    );
    assert!(detail.contains("wipe = \"always\""), "{detail}");
    for later in ["k3s-config", "start", "join"] {
        assert_eq!(phase(&j, later).0, "not-run", "{later}");
    }
    let calls = std::fs::read_to_string(&systemctl_log).unwrap_or_default();
    assert!(!calls.contains("k3s"), "k3s must not be started: {calls}");
    assert!(!n.path("etc/rancher/k3s/config.yaml.d").exists());
    assert_eq!(n.osd_digest(by_id), before, "the refused disk is untouched");
    assert_eq!(n.status()["phase"], "disks");
}

#[test]
fn servers_deploy_the_rendered_bundle_with_the_ceph_cluster() {
    let c = Cluster::new("rack");
    let cfg = c.render("s1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    // Before k3s: the charts, but Rook waits for its Secret (created through the API).
    let out = n.run_with_args(&["--before-k3s"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = n.path("var/lib/rancher/k3s/server/manifests");
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert!(names().iter().any(|n| n.contains("dex")), "{:?}", names());
    assert!(
        !names().iter().any(|n| n.starts_with("rook-ceph")),
        "{:?}",
        names()
    );
    // After k3s (the stand-in's API): the Secret is seeded, then Rook's files are written.
    let (api, ca) = agent_support::standin::for_cluster(c.dir.path());
    n.write(
        "etc/rancher/k3s/k3s.yaml",
        agent_support::standin::server_kubeconfig(&api, &ca),
    );
    n.set_cmdline(&format!("{NO_JOIN} kateskit.agent.join_timeout_s=5"));
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for want in ["rook-ceph-operator.yaml", "rook-ceph-cluster.yaml"] {
        assert!(
            names().iter().any(|n| n == want),
            "{want} missing: {:?}",
            names()
        );
    }
    let cluster = std::fs::read_to_string(dir.join("rook-ceph-cluster.yaml")).unwrap();
    for dev in [
        "/dev/disk/by-id/ata-KATESKIT_OSD_A1_0",
        "/dev/disk/by-id/ata-KATESKIT_OSD_A2_1",
        "/dev/disk/by-id/ata-KATESKIT_OSD_A3_0",
    ] {
        assert!(cluster.contains(dev), "{dev} not in the CephCluster");
    }
    // The same bytes Rook rendering gives from cluster.toml directly.
    let spec = kateskit::spec::load(&c.dir.path().join("cluster.toml"))
        .unwrap()
        .spec;
    let direct = kateskit::bundle::rook::render(&spec).unwrap();
    assert_eq!(cluster, direct[1].yaml);
    // Agents deploy nothing.
    let a = Node::new();
    let acfg = c.render("a4");
    a.image_defaults(&acfg);
    a.set_cmdline(NO_JOIN);
    assert!(a.run(&[]).status.success());
    assert!(!a.path("var/lib/rancher/k3s/server/manifests").exists());
}

#[test]
fn osds_made_on_handed_over_disks_are_kept_on_later_boots() {
    let (_c, cfg, n) = rack_a1();
    assert!(n.run(&[]).status.success());
    let state: serde_json::Value =
        serde_json::from_str(&n.read("var/lib/kateskit/osd-disks.json")).unwrap();
    assert_eq!(state["handed_over"].as_array().unwrap().len(), 2);
    assert!(state.get("learned_fsid").is_none());

    // Rook formats the first disk with its own fsid, unknown to cluster.toml.
    let by_id = cfg["storage"]["osd_disks"][0]["by_id"].as_str().unwrap();
    let rook_fsid = uuid::Uuid::new_v4().to_string();
    make_osd(&n.osd_device(by_id), &rook_fsid);
    let with_osd = n.osd_digest(by_id);
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = n.journal();
    assert_eq!(j["disks"][0]["before"]["state"], "ceph-osd-this-cluster");
    assert_eq!(j["disks"][0]["action"], "kept");
    assert_eq!(n.osd_digest(by_id), with_osd, "the OSD is untouched");
    let state: serde_json::Value =
        serde_json::from_str(&n.read("var/lib/kateskit/osd-disks.json")).unwrap();
    assert_eq!(state["learned_fsid"], rook_fsid.as_str());

    // A third run changes nothing, and the learned fsid stays.
    let before = n.mtimes();
    assert!(n.run(&[]).status.success());
    let after = n.mtimes();
    let state_file = n.path("var/lib/kateskit/osd-disks.json");
    assert_eq!(before.get(&state_file), after.get(&state_file));
}

/// An OSD of a fsid nobody vouches for (not declared, not recorded) stops the node, untouched.
#[test]
fn an_osd_on_a_disk_never_handed_over_is_refused() {
    let (_c, cfg, n) = rack_a1();
    let by_id = cfg["storage"]["osd_disks"][0]["by_id"].as_str().unwrap();
    make_osd(&n.osd_device(by_id), &uuid::Uuid::new_v4().to_string());
    let before = n.osd_digest(by_id);
    let out = n.run(&[]);
    assert!(!out.status.success());
    let (outcome, detail) = phase(&n.journal(), "disks");
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("another Ceph cluster") || detail.contains("other cluster"),
        "{detail}"
    );
    assert_eq!(n.osd_digest(by_id), before);
    assert!(!n.path("var/lib/kateskit/osd-disks.json").exists());
}

/// The node's own OSDs carry the declared fsid (Rook adopts it from the pre-seeded mon
/// secret), so losing every piece of node-local state (a live or netboot node's tmpfs root, a
/// reinstalled OS disk) changes nothing: the next boot keeps them and the node comes up.
#[test]
fn state_loss_keeps_this_clusters_osds() {
    let (_c, cfg, n) = rack_a1();
    assert!(n.run(&[]).status.success());
    let fsid = cfg["secrets"]["ceph_fsid"].as_str().unwrap();
    // The if-foreign disk, the one a wrong "foreign" verdict would wipe.
    let by_id = cfg["storage"]["osd_disks"][1]["by_id"].as_str().unwrap();
    assert_eq!(cfg["storage"]["osd_disks"][1]["wipe"], "if-foreign");
    make_osd(&n.osd_device(by_id), fsid);
    let with_osd = n.osd_digest(by_id);
    std::fs::remove_dir_all(n.path("var/lib/kateskit")).unwrap();
    let out = n.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = n.journal();
    assert_eq!(phase(&j, "disks").0, "done");
    assert_eq!(j["disks"][1]["before"]["state"], "ceph-osd-this-cluster");
    assert_eq!(j["disks"][1]["action"], "kept");
    assert_eq!(n.osd_digest(by_id), with_osd, "the OSD is untouched");
}

/// An OSD whose fsid only this node's record vouched for (a cluster whose Rook chose its own
/// fsid) is refused once the record is gone: the node stops before k3s, the OSD survives.
#[test]
fn a_lost_record_refuses_instead_of_wiping() {
    let (_c, cfg, n) = rack_a1();
    assert!(n.run(&[]).status.success());
    let by_id = cfg["storage"]["osd_disks"][1]["by_id"].as_str().unwrap();
    make_osd(&n.osd_device(by_id), &uuid::Uuid::new_v4().to_string());
    assert!(
        n.run(&[]).status.success(),
        "learned on the handed-over disk"
    );
    let with_osd = n.osd_digest(by_id);
    std::fs::remove_dir_all(n.path("var/lib/kateskit")).unwrap();
    let out = n.run(&[]);
    assert!(!out.status.success());
    let (outcome, detail) = phase(&n.journal(), "disks");
    assert_eq!(outcome, "failed");
    assert!(detail.contains("never wiped on a guess"), "{detail}");
    assert!(detail.contains("foreign_fsid"), "{detail}");
    assert_eq!(n.osd_digest(by_id), with_osd, "the OSD is untouched");
    assert_eq!(phase(&n.journal(), "start").0, "not-run");
}

/// Mounts a tmpfs on `<root>/var/lib` (a live or netboot node's /var) until dropped.
struct TmpfsVar(std::path::PathBuf);

impl TmpfsVar {
    fn mount(n: &Node) -> TmpfsVar {
        let dir = n.path("var/lib");
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        TmpfsVar(dir)
    }
}

impl Drop for TmpfsVar {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A Ceph mon host whose /var/lib/rook is on tmpfs would lose the mons at every reboot: the
/// server is refused at validate (k3s never started); an OSD-only agent runs, with a warning.
#[test]
fn rook_state_on_tmpfs_is_refused_on_servers_and_named_on_agents() {
    let c = Cluster::new("rack");
    let cfg = c.render("s1");
    let n = Node::new();
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let var = TmpfsVar::mount(&n);
    let out = n.run(&[]);
    assert!(!out.status.success());
    let (outcome, detail) = phase(&n.journal(), "validate");
    assert_eq!(outcome, "failed");
    assert!(
        detail.contains("/var/lib/rook is on tmpfs") && detail.contains("kateskit install"),
        "{detail}"
    );
    assert_eq!(phase(&n.journal(), "start").0, "not-run");
    drop(var);

    let (_c, _cfg, a) = rack_a1();
    let _var = TmpfsVar::mount(&a);
    let out = a.run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status = a.read("run/kateskit/status.json");
    assert!(
        status.contains("/var/lib/rook is on tmpfs: this node is ephemeral"),
        "{status}"
    );
}
