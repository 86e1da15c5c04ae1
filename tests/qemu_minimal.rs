//! Minimal input on a real kernel: Debian's cloud kernel boots under QEMU (TCG) a generic
//! initramfs (no image defaults, no config drive) with the agent; the agent reads the real
//! /proc/cmdline and the real /sys/class/net. Only `kateskit.role/server/token` writes the k3s
//! drop-in with the node name derived from the NIC's MAC; nothing at all shows the
//! `unconfigured` banner with that MAC on the console, and k3s is never started.

mod agent_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use agent_support::initramfs::{
    agent_root, kernel_dir, pack, section, tools_present, vmlinuz, wait_for_guest, Qemu,
};

const TIMEOUT: Duration = Duration::from_secs(240);
const MODULES: [&str; 2] = ["virtio_pci", "virtio_net"];
const MAC: &str = "52:54:00:0b:00:2a";
/// The guest's /init (shared with tests/qemu_agent.rs): runs the agent, prints its results.
const INIT: &str = include_str!("data/qemu-init.sh");

/// Boots the generic initramfs with `kargs` appended; returns the serial log.
fn boot(kargs: &str) -> String {
    let kdir = kernel_dir();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("initramfs");
    agent_root(&root, &kdir, &MODULES, INIT);
    let initrd = work.path().join("initrd.cpio");
    pack(&root, &initrd);
    let serial = work.path().join("serial.log");
    let append = format!("console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check {kargs}");
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-m", "768", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none"])
        .arg("-kernel")
        .arg(vmlinuz(&kdir))
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", &append])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(["-netdev", "user,id=n0,restrict=on", "-device"])
        .arg(format!("virtio-net-pci,netdev=n0,mac={MAC}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");
    wait_for_guest(Qemu(child), &serial, TIMEOUT)
}

#[test]
fn a_generic_boot_with_role_server_token_writes_the_k3s_dropin() {
    if !tools_present() {
        return;
    }
    let token = format!("K10{}::node:qemu-minimal", "b".repeat(64));
    let log = boot(&format!(
        "kateskit.role=agent kateskit.server=https://10.0.2.2:6443 kateskit.token={token} kateskit.agent.verify_join=false"
    ));
    assert!(
        log.contains("==RC 0=="),
        "agent failed in the guest:\n{log}"
    );
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["state"], "ok", "{status:#}");
    assert_eq!(status["node_name"], "node-0b002a");
    let dropin = section(&log, "DROPIN");
    for want in [
        "server: https://10.0.2.2:6443",
        "token-file: /var/lib/kateskit/token",
        "node-name: node-0b002a",
    ] {
        assert!(dropin.contains(want), "{want} not in:\n{dropin}");
    }
    let sources = section(&log, "SOURCES");
    assert!(
        sources.contains(&format!(
            "node.name = derived (no host name given; from MAC {MAC})"
        )) && sources.contains("host.timezone = default"),
        "{sources}"
    );
    assert!(
        sources.contains("node.macs = derived (physical links eth0)"),
        "{sources}"
    );
    assert!(log.contains("--no-block restart k3s.service"), "{log}");
    assert!(
        !log.contains("qemu-minimal"),
        "the token is never printed:\n{log}"
    );
}

#[test]
fn a_boot_with_nothing_shows_the_unconfigured_banner_with_the_macs() {
    if !tools_present() {
        return;
    }
    let log = boot("");
    assert!(
        log.contains("==RC 0=="),
        "unconfigured is not a failure:\n{log}"
    );
    let status: serde_json::Value = serde_json::from_str(section(&log, "STATUS")).unwrap();
    assert_eq!(status["state"], "unconfigured", "{status:#}");
    assert_eq!(
        status["unconfigured"]["macs"],
        serde_json::json!([format!("eth0 {MAC}")])
    );
    // The banner reached the console (the serial port) by itself.
    for want in [
        "UNCONFIGURED",
        &format!("MACs:      eth0 {MAC}"),
        "kateskit image customize",
        "kateskit.role=agent",
        "kateskit.config_url=",
    ] {
        assert!(log.contains(want), "{want} not on the console:\n{log}");
    }
    assert!(
        log.contains("==SYSTEMCTL =="),
        "nothing started, k3s least of all:\n{log}"
    );
}
