//! The two machines of the systemd tier (tests/systemd_boot.rs), each booted once per test
//! process and shared between the assertions.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::guest::{boot, make_disk, Net};
use super::record::{collect, Record};
use super::TapNet;

/// One boot under TCG on a busy 2-core machine takes about a minute; the bound is generous.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const TOKEN: &str =
    "K10bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb::node:systemd-tier";

pub struct Machine {
    pub boots: Vec<Record>,
    /// Requests busybox httpd logged in the namespace (static machine only).
    pub httpd: String,
    _work: tempfile::TempDir,
}

pub fn static_machine() -> Result<Machine, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let www = work.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let body = format!(
        r#"{{"node": {{"role": "agent"}}, "k3s": {{"server_url": "https://192.0.2.1:6443"}}, "secrets": {{"token": "{TOKEN}"}}, "host": {{"hostname": "sd-static", "ntp_servers": ["192.0.2.123"]}}, "agent": {{"verify_join": false}}}}"#
    );
    std::fs::write(www.join("n.json"), &body).unwrap();
    let pin = hex::encode(Sha256::digest(body.as_bytes()));
    let mut net = TapNet::new("static", &www)?;
    let img = work.path().join("disk.img");
    make_disk(&img, &[])?;
    let kargs = format!(
        "kateskit.node.network.addresses[]=192.0.2.21/24 kateskit.node.network.gateway=192.0.2.1 kateskit.node.network.interface=eth0 kateskit.config_url=http://192.0.2.1:8080/n.json kateskit.config_sha256={pin}"
    );
    let mut boots = Vec::new();
    for n in 1..=2 {
        let tap = Net::Tap {
            netns: &net.netns,
            tap: &net.tap,
        };
        let serial = boot(
            &img,
            work.path(),
            tap,
            &kargs,
            "52:54:00:5d:00:01",
            BOOT_TIMEOUT,
        )?;
        boots.push(collect(&img, n, work.path(), serial)?);
    }
    let httpd = net.stop_httpd();
    Ok(Machine {
        boots,
        httpd,
        _work: work,
    })
}

pub fn failing_machine() -> Result<Machine, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let img = work.path().join("disk.img");
    // The image defaults (the NixOS module's /etc/kateskit/image.json) declare the OSD disk.
    let image = r#"{"storage": {"osd_disks": [{"by_id": "/dev/disk/by-id/virtio-absent-osd"}]}, "secrets": {"ceph_fsid": "6f2b1c1e-4a9e-4c57-9d0b-3a1f5e7c2d10"}}"#;
    make_disk(&img, &[("etc/kateskit/image.json", image)])?;
    let kargs = format!(
        "kateskit.role=agent kateskit.server=https://10.0.2.2:6443 kateskit.token={TOKEN} kateskit.agent.verify_join=false"
    );
    let serial = boot(
        &img,
        work.path(),
        Net::User,
        &kargs,
        "52:54:00:5d:00:02",
        BOOT_TIMEOUT,
    )?;
    Ok(Machine {
        boots: vec![collect(&img, 1, work.path(), serial)?],
        httpd: String::new(),
        _work: work,
    })
}
