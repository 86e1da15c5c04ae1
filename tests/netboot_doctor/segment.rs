//! A segment for the doctor: a bridge in the `site` namespace (192.0.2.1, where the site's
//! dnsmasq runs), the doctor's namespace on it (192.0.2.10) and a peer namespace (192.0.2.2)
//! for a ProxyDHCP; plus runs of the real binary inside the doctor's namespace.

use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

use crate::dhcp_support::wait_for;
use crate::netns::{self, Netns};

pub const DOCTOR_IP: &str = "192.0.2.10";
pub const PEER_IP: &str = "192.0.2.2";

pub struct Segment {
    pub site: Netns,
    pub doctor: Netns,
    pub peer: Netns,
}

impl Segment {
    pub fn new() -> Segment {
        let (site, doctor, peer) = (Netns::new("dsite"), Netns::new("ddoc"), Netns::new("dpeer"));
        site.ip(&["link", "add", "br0", "type", "bridge"]);
        site.ip(&["addr", "add", "192.0.2.1/24", "dev", "br0"]);
        site.ip(&["link", "set", "br0", "up"]);
        netns::veth(&site, "sd0", &doctor, "dr0");
        netns::veth(&site, "sp0", &peer, "px0");
        for port in ["sd0", "sp0"] {
            site.ip(&["link", "set", port, "master", "br0"]);
        }
        doctor.ip(&["addr", "add", &format!("{DOCTOR_IP}/24"), "dev", "dr0"]);
        peer.ip(&["addr", "add", &format!("{PEER_IP}/24"), "dev", "px0"]);
        Segment { site, doctor, peer }
    }

    /// `kateskit netboot doctor --interface dr0 ARGS...` in the doctor's namespace.
    pub fn doctor(&self, args: &[&str]) -> Output {
        self.doctor
            .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap())
            .args(["netboot", "doctor", "--interface", "dr0"])
            .args(args)
            .output()
            .unwrap()
    }

    /// The `--json` report and the exit code.
    pub fn report(&self, args: &[&str]) -> (serde_json::Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.doctor(&a);
        let code = o.status.code().unwrap_or(-1);
        let text = String::from_utf8_lossy(&o.stdout);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "doctor --json: {e}: {text}\nstderr: {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (v, code)
    }
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's dnsmasq as a second ProxyDHCP (`dhcp-range=...,proxy` with pxe-service entries).
pub fn proxy_dnsmasq(ns: &Netns, dir: &Path) -> Proc {
    let log = dir.join("proxy.log");
    let child = ns
        .command("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--interface=px0",
            "--bind-interfaces",
            "--user=root",
            "--log-dhcp",
            "--dhcp-range=192.0.2.0,proxy",
            "--pxe-service=x86PC,Network boot,undionly",
            "--pxe-service=X86-64_EFI,Network boot,ipxe",
        ])
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.join("proxy.leases").display()
        ))
        .arg(format!("--pid-file={}", dir.join("proxy.pid").display()))
        .arg(format!("--log-facility={}", log.display()))
        .spawn()
        .expect("dnsmasq");
    let p = Proc(child);
    wait_for(
        "the proxy dnsmasq to start",
        Duration::from_secs(10),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("proxy on subnet")),
    );
    p
}

/// A python3 process in `ns` holding udp/`port` on 0.0.0.0 until killed.
pub fn hold_udp(ns: &Netns, port: u16, dir: &Path) -> Proc {
    let flag = dir.join(format!("held-{port}"));
    let script = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',{port}))\nopen('{}','w').close()\ntime.sleep(120)\n",
        flag.display()
    );
    let child = ns.command("python3").args(["-c", &script]).spawn().unwrap();
    let p = Proc(child);
    wait_for("the port holder", Duration::from_secs(10), || flag.exists());
    p
}

/// The responders of a report with `role`.
pub fn with_role<'a>(r: &'a serde_json::Value, role: &str) -> Vec<&'a serde_json::Value> {
    r["responders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["role"] == role)
        .collect()
}
