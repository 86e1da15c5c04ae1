//! `kateskit disk inspect` and `disk prepare` on real loop devices: one human line per disk,
//! JSON that scripts can read, a dry run by default, and the agent's knowledge of which OSDs
//! are this cluster's. Runs as root.

mod common;

use assert_cmd::Command;
use common::holder::{serve_if_asked, Holder};
use common::{lock, loop_devices_available, make_osd, run, LoopDev};

const GIB: u64 = 1 << 30;

#[test]
fn inspect_prints_lines_and_json() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let blank = LoopDev::new(6 * GIB);
    let ext4 = LoopDev::new(6 * GIB);
    run("mkfs.ext4", &["-q", "-F", "-L", "scratch", ext4.path()]);
    let small = LoopDev::new(GIB);

    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args(["disk", "inspect", blank.path(), ext4.path()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(blank.path()) && lines[0].ends_with(": blank"),
        "{text}"
    );
    assert!(
        lines[1].contains("ext4 filesystem labelled \"scratch\""),
        "{text}"
    );

    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args([
            "disk",
            "inspect",
            "--json",
            "--ceph-fsid",
            "6a0c1e62-3c1b-4e7a-9a52-0c8f3f1e2d11",
            small.path(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["state"], "too-small");
    assert_eq!(v[0]["content"]["state"], "blank");
    assert_eq!(v[0]["size"], GIB);
    assert_eq!(v[0]["blockers"][0]["kind"], "too-small");
}

#[test]
fn inspect_names_a_missing_device() {
    let out = Command::cargo_bin("kateskit")
        .unwrap()
        .args(["disk", "inspect", "/dev/disk/by-id/kateskit-no-such-disk"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/disk/by-id/kateskit-no-such-disk"),
        "{err}"
    );
}

/// A NodeConfig rendered from examples/rack for node a1, whose disks are `A1_0`
/// (wipe = never) and `A1_1` (wipe = if-foreign), on loop devices linked in a stand-in /dev.
struct Rack {
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    a0: LoopDev,
    a1: LoopDev,
    fsid: String,
}

fn rack_a1() -> Rack {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster");
    kk().args(["cluster", "init"])
        .arg(&cluster)
        .assert()
        .success();
    let rack = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rack/cluster.toml");
    std::fs::copy(rack, cluster.join("cluster.toml")).unwrap();
    let cfg = dir.path().join("a1.json");
    kk().args(["cluster", "render"])
        .arg(&cluster)
        .args(["--node", "a1", "-o"])
        .arg(&cfg)
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let fsid = v["secrets"]["ceph_fsid"].as_str().unwrap().to_string();
    let (a0, a1) = (LoopDev::new(6 * GIB), LoopDev::new(6 * GIB));
    let by_id = dir.path().join("dev/disk/by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    std::os::unix::fs::symlink(&a0.dev, by_id.join("ata-KATESKIT_OSD_A1_0")).unwrap();
    std::os::unix::fs::symlink(&a1.dev, by_id.join("ata-KATESKIT_OSD_A1_1")).unwrap();
    Rack {
        dir,
        cfg,
        a0,
        a1,
        fsid,
    }
}

fn kk() -> Command {
    Command::cargo_bin("kateskit").unwrap()
}

impl Rack {
    fn prepare(&self, extra: &[&str]) -> std::process::Output {
        let mut c = kk();
        c.args(["disk", "prepare", "--json", "--node-config"])
            .arg(&self.cfg)
            .arg("--dev-dir")
            .arg(self.dir.path().join("dev"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(extra);
        c.output().unwrap()
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }
}

#[test]
fn prepare_is_a_dry_run_unless_told_to_apply() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let r = rack_a1();
    run("sgdisk", &["-n", "1:0:+100M", r.a1.path()]);

    // A1_0 holds a filesystem under wipe = never: everything is refused, A1_1 keeps its table.
    run("mkfs.ext4", &["-q", "-F", r.a0.path()]);
    let before = r.a1.digest();
    for extra in [&[][..], &["--apply"][..]] {
        let out = r.prepare(extra);
        assert!(!out.status.success(), "{extra:?}");
        assert_eq!(
            r.a1.digest(),
            before,
            "A1_1 was written despite the refusal of A1_0"
        );
    }
    let err = String::from_utf8_lossy(&r.prepare(&["--apply"]).stderr).to_string();
    assert!(
        err.contains("ata-KATESKIT_OSD_A1_0") && err.contains("nothing was written"),
        "{err}"
    );

    // With A1_0 blank the plan wipes A1_1's empty table, but a dry run writes nothing.
    run("wipefs", &["-a", "-q", r.a0.path()]);
    let out = r.prepare(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["knowledge"]["declared"], r.fsid.as_str());
    assert_eq!(plan["disks"][0]["decision"]["action"], "accept");
    assert_eq!(plan["disks"][1]["decision"]["action"], "wipe");
    assert_eq!(r.a1.digest(), before, "a dry run wrote to A1_1");
    assert!(!r.state_dir().exists(), "a dry run wrote the state file");
    let text = kk()
        .args(["disk", "prepare", "--node-config"])
        .arg(&r.cfg)
        .arg("--dev-dir")
        .arg(r.dir.path().join("dev"))
        .arg("--state-dir")
        .arg(r.state_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("ata-KATESKIT_OSD_A1_1: would WIPE"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&text.stderr).contains("--apply"));

    let out = r.prepare(&["--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["by_id"], "/dev/disk/by-id/ata-KATESKIT_OSD_A1_0");
    assert_eq!(
        (v[0]["action"].as_str(), v[0]["after"]["state"].as_str()),
        (Some("accepted"), Some("blank"))
    );
    assert_eq!(v[1]["before"]["state"], "partition-table");
    assert_eq!(
        (v[1]["action"].as_str(), v[1]["after"]["state"].as_str()),
        (Some("wiped"), Some("blank"))
    );
    // The same record the agent keeps: both disks were handed over.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(r.state_dir().join("osd-disks.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["handed_over"].as_array().unwrap().len(), 2);
}

/// `disk prepare` knows what the agent knows: this cluster's OSDs (the declared fsid, which Rook
/// adopts) are kept under every policy with no state at all, and an OSD of a fsid this node
/// recorded is kept too; the same OSD without the record is refused, never wiped.
#[test]
fn prepare_keeps_this_clusters_osds() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let r = rack_a1();
    make_osd(&r.a0.dev, &r.fsid);
    let rook_fsid = uuid::Uuid::new_v4().to_string();
    make_osd(&r.a1.dev, &rook_fsid);
    let (d0, d1) = (r.a0.digest(), r.a1.digest());

    // No record: A1_0 (declared fsid) is this cluster's; A1_1 (if-foreign) is refused.
    let out = r.prepare(&["--apply"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("never wiped on a guess") && err.contains(&rook_fsid),
        "{err}"
    );
    assert_eq!((r.a0.digest(), r.a1.digest()), (d0.clone(), d1.clone()));

    // The agent's record says A1_1 was handed over and its fsid learned: kept.
    std::fs::create_dir_all(r.state_dir()).unwrap();
    std::fs::write(
        r.state_dir().join("osd-disks.json"),
        format!(
            "{{\"handed_over\": [\"/dev/disk/by-id/ata-KATESKIT_OSD_A1_1\"], \"learned_fsid\": \"{rook_fsid}\"}}\n"
        ),
    )
    .unwrap();
    let out = r.prepare(&["--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for d in v.as_array().unwrap() {
        assert_eq!(
            (d["before"]["state"].as_str(), d["action"].as_str()),
            (Some("ceph-osd-this-cluster"), Some("kept")),
            "{d}"
        );
    }
    assert_eq!((r.a0.digest(), r.a1.digest()), (d0, d1));
}

/// The helper process of [`Holder::ofd`]; a no-op in a normal test run.
#[test]
fn lock_holder_helper() {
    serve_if_asked();
}

/// A disk the plan would wipe but another process holds, with an OFD write lock as ceph-osd
/// takes on its block device, or with flock: `--apply` is refused naming the holder, nothing
/// is written.
#[test]
fn prepare_refuses_a_disk_another_process_holds() {
    if !loop_devices_available() {
        return;
    }
    let _l = lock();
    let r = rack_a1();
    run("sgdisk", &["-n", "1:0:+100M", r.a1.path()]);
    for how in ["with an OFD write lock", "flock"] {
        let holder = if how == "flock" {
            Holder::flock(r.a1.path())
        } else {
            Holder::ofd(r.a1.path())
        };
        let (d0, d1) = (r.a0.digest(), r.a1.digest());
        let out = r.prepare(&["--apply"]);
        assert!(!out.status.success(), "{how}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("(pid {})", holder.pid())) && err.contains(how),
            "{how}: {err}"
        );
        assert_eq!((r.a0.digest(), r.a1.digest()), (d0, d1), "{how}");
        drop(holder);
    }
    let out = r.prepare(&["--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
