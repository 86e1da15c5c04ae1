//! Support for the systemd tier (tests/systemd_boot.rs): the cached Debian root, the guest's
//! disk and boot, and a network namespace with a tap link and an HTTP server in it.

pub mod guest;
pub mod machines;
pub mod record;
pub mod root;

use std::process::{Child, Command, Stdio};

use root::sh;

/// A network namespace holding tap `tap` with 192.0.2.1/24 and, on 192.0.2.1:8080, busybox
/// httpd serving `dir`: reachable from a guest on that tap only through a static address
/// (nothing there answers DHCP). Removed with its server when dropped.
pub struct TapNet {
    pub netns: String,
    pub tap: String,
    httpd: Option<Child>,
}

impl TapNet {
    pub fn new(tag: &str, dir: &std::path::Path) -> Result<TapNet, String> {
        let netns = format!("kk-sd-{tag}-{}", std::process::id());
        let tap = "tapkk0".to_string();
        let _ = Command::new("ip").args(["netns", "del", &netns]).status();
        sh(Command::new("ip").args(["netns", "add", &netns]))?;
        let mut t = TapNet {
            netns,
            tap,
            httpd: None,
        };
        let ns = t.netns.clone();
        let ip = |args: &[&str]| sh(Command::new("ip").args(["-n", &ns]).args(args));
        ip(&["link", "set", "lo", "up"])?;
        ip(&["tuntap", "add", "dev", &t.tap, "mode", "tap"])?;
        ip(&["addr", "add", "192.0.2.1/24", "dev", &t.tap])?;
        ip(&["link", "set", &t.tap, "up"])?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "busybox",
                "httpd",
                "-f",
                "-vv",
                "-p",
                "192.0.2.1:8080",
                "-h",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting busybox httpd in {ns}: {e}"))?;
        t.httpd = Some(child);
        Ok(t)
    }

    /// What httpd logged (one line per request with -vv), once it has been stopped.
    pub fn stop_httpd(&mut self) -> String {
        use std::io::Read;
        let Some(mut c) = self.httpd.take() else {
            return String::new();
        };
        let _ = c.kill();
        let _ = c.wait();
        let mut s = String::new();
        if let Some(mut e) = c.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for TapNet {
    fn drop(&mut self) {
        self.stop_httpd();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
