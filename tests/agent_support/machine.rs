//! A bare machine for the minimal-input tests: one physical NIC, a bridge that must never
//! stand for it, and a systemctl stand-in that logs what it was asked.

use super::Node;

pub const MAC: &str = "52:54:00:ab:cd:ef";
pub const SERVER: &str = "https://10.0.2.2:6443";

/// A join token of the agent form; its password must never be shown.
pub fn token() -> String {
    format!("K10{}::node:minimal-password", "a".repeat(64))
}

/// A node whose one physical NIC has [`MAC`] and whose systemctl calls are logged.
pub fn machine() -> Node {
    let mut n = Node::new();
    let d = n.path("sys/class/net/enp1s0");
    std::fs::create_dir_all(d.join("device")).unwrap();
    std::fs::write(d.join("address"), format!("{MAC}\n")).unwrap();
    std::fs::write(d.join("type"), "1\n").unwrap();
    std::fs::write(d.join("carrier"), "1\n").unwrap();
    // A bridge k3s would add: never stands for the machine.
    let b = n.path("sys/class/net/cni0");
    std::fs::create_dir_all(b.join("bridge")).unwrap();
    std::fs::write(b.join("address"), "02:00:00:00:00:01\n").unwrap();
    let log = n.aux().join("systemctl.log");
    let script = n.aux().join("systemctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    n.setenv("KATESKIT_SYSTEMCTL", &script.display().to_string());
    n
}

/// Every systemctl call the agent made, one a line.
pub fn systemctl_log(n: &Node) -> String {
    std::fs::read_to_string(n.aux().join("systemctl.log")).unwrap_or_default()
}

/// Runs the agent, insists it exited 0, returns its stdout (the banner).
pub fn run_ok(n: &Node) -> String {
    let out = n.run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The k3s drop-in the agent writes.
pub const DROPIN: &str = "etc/rancher/k3s/config.yaml.d/10-kateskit.yaml";
