//! What the agent shows and waits for on a real machine, against stand-ins under the root
//! hook: the banner on every active console (files stand in for /dev/tty0 and /dev/ttyS0,
//! a fixture file for /sys/class/tty/console/active), and udev settled before the disks phase
//! (a `udevadm` stand-in that makes the OSD disk's by-id link appear, as a slow HBA's would).

mod agent_support;

use std::os::unix::fs::PermissionsExt;

use agent_support::{Cluster, Node};

fn script(n: &Node, name: &str, body: &str) -> String {
    let p = n.aux().join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn the_banner_reaches_every_console_and_disks_wait_for_udev() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let mut n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n.set_cmdline("kateskit.agent.verify_join=false");
    n.write("sys/class/tty/console/active", "tty0 ttyS0\n");
    n.write("dev/tty0", "");
    n.write("dev/ttyS0", "");

    // The OSD disk's by-id link exists only once udev has settled.
    let by_id = cfg["storage"]["osd_disks"][0]["by_id"].as_str().unwrap();
    let link = n.path(by_id.trim_start_matches('/'));
    let target = std::fs::read_link(&link).unwrap();
    std::fs::remove_file(&link).unwrap();
    let log = n.aux().join("udevadm.log");
    let udevadm = script(
        &n,
        "udevadm",
        &format!(
            "echo \"$*\" >> '{}'\nln -s '{}' '{}'",
            log.display(),
            target.display(),
            link.display()
        ),
    );
    n.setenv("KATESKIT_UDEVADM", &udevadm);

    let out = n.run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "settle --timeout=60\n"
    );
    let j = n.journal();
    let disks = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "disks")
        .unwrap();
    assert_eq!(disks["outcome"], "done", "{disks}");

    // The banner on both consoles, not only on the last one (/dev/console).
    for tty in ["dev/tty0", "dev/ttyS0"] {
        let shown = n.read(tty);
        assert!(shown.contains("==== kateskit ===="), "{tty}: {shown:?}");
        assert!(shown.contains("state:     OK"), "{tty}: {shown:?}");
    }
}

#[test]
fn a_udev_that_does_not_settle_is_a_warning_and_a_missing_disk_still_fails_closed() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let mut n = Node::new();
    n.image_defaults(&cfg);
    n.attach_osd_disks(&cfg);
    n.set_cmdline("kateskit.agent.verify_join=false");
    let by_id = cfg["storage"]["osd_disks"][0]["by_id"].as_str().unwrap();
    std::fs::remove_file(n.path(by_id.trim_start_matches('/'))).unwrap();
    let udevadm = script(&n, "udevadm", "echo 'timed out' >&2; exit 1");
    n.setenv("KATESKIT_UDEVADM", &udevadm);

    let out = n.run(&[]);
    assert!(!out.status.success());
    let s = n.status();
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("settle --timeout=60 ended with") && warnings.contains("timed out"),
        "{warnings}"
    );
    assert_eq!(s["phase"], "disks", "{s}");
}
