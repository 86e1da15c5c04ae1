//! `kateskit netboot serve` with the real iPXE ROM: Debian's ipxe-qemu in a SeaBIOS guest
//! (QEMU TCG) on a bridge in the server's namespace (192.0.2.0/24). Needs root, iproute2,
//! qemu-system-x86 and ipxe-qemu.

mod agent_support;
mod fleet_support;
mod netns;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use agent_support::Cluster;
use fleet_support::A1;
use netns::Netns;
use serve_support::{artifacts, wait_for_timeline, Serve};

const SERVER: &str = "192.0.2.1";

/// The real iPXE ROM (Debian's ipxe-qemu in a SeaBIOS guest, `-boot n`, TCG) on a bridge in
/// the server's namespace, `--dhcp full`: DHCP hands iPXE its script URL, iPXE fetches the
/// chain script, then a1's boot script, kernel and initrd (stand-in bytes: the boot stops
/// there), and the timeline shows each stage.
#[test]
fn the_real_ipxe_rom_fetches_its_boot_script_in_full_mode() {
    const ROM: &str = "/usr/lib/ipxe/qemu/pxe-e1000.rom";
    if netns::skip_unless_available(&["qemu-system-x86_64"]) {
        return;
    }
    if !Path::new(ROM).is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {ROM} (ipxe-qemu)"
        );
        eprintln!("skipping: {ROM} missing (apt-get install ipxe-qemu)");
        return;
    }
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir().unwrap();
    let (art, tftp, _) = artifacts(dir.path());
    let state = dir.path().join("state");
    let srv = Netns::new("qsrv");
    srv.ip(&["link", "add", "br0", "type", "bridge"]);
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "br0"]);
    srv.ip(&["link", "set", "br0", "up"]);
    srv.ip(&["tuntap", "add", "tap0", "mode", "tap"]);
    srv.ip(&["link", "set", "tap0", "master", "br0"]);
    srv.ip(&["link", "set", "tap0", "up"]);
    let mut cmd = srv.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
    cmd.args(["netboot", "serve", "--interface", "br0", "--dhcp", "full"])
        .args(["--range", "192.0.2.100,192.0.2.150"])
        .arg("--cluster")
        .arg(c.dir.path())
        .arg("--artifacts")
        .arg(&art)
        .arg("--tftp-root")
        .arg(&tftp)
        .arg("--state")
        .arg(&state);
    let _serve = Serve::start(cmd);
    let serial = dir.path().join("serial.log");
    let mut qemu = srv.command("qemu-system-x86_64");
    qemu.args([
        "-accel",
        "tcg",
        "-m",
        "256",
        "-nographic",
        "-display",
        "none",
    ])
    .arg("-serial")
    .arg(format!("file:{}", serial.display()))
    .args(["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no"])
    .arg("-device")
    .arg(format!("e1000,netdev=n0,mac={A1},romfile={ROM}"))
    .args(["-boot", "n"])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    struct Guest(std::process::Child);
    impl Drop for Guest {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guest = Guest(qemu.spawn().unwrap());
    let want = ["dhcp", "script", "kernel", "initrd"];
    let kinds = wait_for_timeline(
        &state,
        A1,
        &want,
        Duration::from_secs(180),
        Duration::from_millis(500),
    );
    for w in want {
        assert!(
            kinds.iter().any(|k| k == w),
            "no {w} in the timeline {kinds:?} after the iPXE boot"
        );
    }
}
