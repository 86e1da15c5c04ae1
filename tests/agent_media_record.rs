//! A node that a config drive configured on its first boot comes up the same way on later
//! boots, with the drive gone or ignored: the first boot's drive layers are recorded with the
//! identity (docs/agent.md "Identity record").

mod agent_support;

use agent_support::trust::{drive, run_ok, warnings, NO_JOIN};
use agent_support::{Cluster, Node};
use serde_json::json;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDriveKeyOfTheFirstBoot00000000000000 drv";

#[test]
fn a_drive_configured_node_keeps_that_config_after_the_first_boot() {
    let c = Cluster::new("rack");
    let cfg = c.render("a1");
    let n = Node::new();
    n.attach_osd_disks(&cfg);
    n.image_defaults(&cfg);
    n.set_cmdline(NO_JOIN);
    let first = drive(&json!({"host": {"hostname": "from-drive", "ssh_authorized_keys": [KEY]}}));
    run_ok(
        &n,
        &[("KATESKIT_CONFIG_DRIVE", first.path().to_str().unwrap())],
    );
    assert_eq!(n.value("host/hostname"), "from-drive");
    assert_eq!(n.read("root/.ssh/authorized_keys"), format!("{KEY}\n"));
    let rec = n.path("var/lib/kateskit/first-boot-media.json");
    let mode = std::fs::metadata(&rec)
        .expect("media recorded")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    // Later boot without the drive: the recorded layer stands in for it.
    run_ok(&n, &[]);
    assert_eq!(n.value("host/hostname"), "from-drive");
    assert_eq!(n.read("root/.ssh/authorized_keys"), format!("{KEY}\n"));
    assert!(
        n.source("host.hostname")
            .contains("recorded on the first boot"),
        "{}",
        n.source("host.hostname")
    );

    // Later boot with another drive: it is ignored, the first boot's config holds.
    let other = drive(
        &json!({"host": {"hostname": "other", "ssh_authorized_keys": ["ssh-ed25519 AAAAother o"]}}),
    );
    run_ok(
        &n,
        &[("KATESKIT_CONFIG_DRIVE", other.path().to_str().unwrap())],
    );
    assert_eq!(n.value("host/hostname"), "from-drive");
    assert_eq!(n.read("root/.ssh/authorized_keys"), format!("{KEY}\n"));
    assert!(warnings(&n).contains("ignored: removable media are read on the first boot only"));

    // Removing the identity record makes the next boot a first boot: the drive is read afresh.
    std::fs::remove_file(n.path("var/lib/kateskit/identity.json")).unwrap();
    run_ok(
        &n,
        &[("KATESKIT_CONFIG_DRIVE", other.path().to_str().unwrap())],
    );
    assert_eq!(n.value("host/hostname"), "other");
}
