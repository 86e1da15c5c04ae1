//! A test node for the A/B boot tests: a two-slot disk with version 1 in slot A (blessed,
//! `kateskit_1.efi`), optionally a release of version 2 served on 127.0.0.1 that version 1's
//! init stages, and the machine that boots it until its init powers it off.

use std::time::Duration;

use crate::agent_support::standin::{self, Opts, StandIn};
use crate::layout::{sgdisk_info, write_release, Layout, LayoutOpts, SLOT_A, SLOT_B};
use crate::machine::{Boot, Machine};
use crate::uki::{Uki, SYSTEMD_BOOT};
use crate::{release, serve};

/// The kernel command line every test UKI starts with: a panic reboots after a second.
pub const CMDLINE: &str = "console=ttyS0 panic=1 quiet no_timer_check";
/// Boot tries staged for version 2.
pub const TRIES: u32 = 2;

/// Version 2 as a scenario wants it.
pub struct B<'a> {
    /// The command line built into version 2's UKI.
    pub cmdline: &'a str,
    /// The Ready condition the stand-in Kubernetes API reports for the node (`True`/`False`).
    pub node_ready: &'a str,
}

pub struct Node {
    pub machine: Machine,
    /// The STAND-IN Kubernetes API the gate asks about this node (10.0.2.2 from the guest).
    pub _api: Option<StandIn>,
    pub disk: Layout,
    /// The release's HTTP server, while the node has one.
    pub files: Option<serve::Files>,
    _dir: tempfile::TempDir,
}

/// What one boot printed, and what the ESP and the GPT held once it was over.
pub struct After {
    pub boot: Boot,
    pub entries: Vec<String>,
    pub slots: Vec<String>,
}

impl Node {
    /// A node whose version 1 stages version 2 when `b` is given.
    pub fn new(name: &str, b: Option<B>) -> Node {
        let parts = release::parts();
        let dir = tempfile::tempdir().unwrap();
        let mut a_cmdline = CMDLINE.to_string();
        let mut files = None;
        let mut api = None;
        if let Some(b) = b {
            let (ca, key) = &parts.api_ca;
            let s = standin::start_named(
                Opts::new(ca, key, "unused", "unused"),
                ([127, 0, 0, 1], 0).into(),
                [10, 0, 2, 2].into(),
            );
            s.nodes
                .lock()
                .unwrap()
                .add(release::NODE, b.node_ready, "boot-1");
            let b_cmdline = format!("{} kateskit.test.api={}", b.cmdline, s.port);
            api = Some(s);
            let b_uki = dir.path().join("b.efi");
            Uki {
                kernel: &parts.kernel,
                initrd: &parts.initrd("2"),
                cmdline: &b_cmdline,
                version: "2",
            }
            .build(&b_uki);
            let rel = dir.path().join("release");
            let bytes = std::fs::read(&b_uki).unwrap();
            let sums = write_release(&rel, "2", &bytes, &parts.store("2"));
            std::fs::remove_file(&b_uki).unwrap();
            let f = serve::Files::serve(&rel);
            a_cmdline += &format!(
                " kateskit.test.release=http://10.0.2.2:{}/ kateskit.test.to=2 kateskit.test.sums={sums} kateskit.test.tries={TRIES}",
                f.port
            );
            files = Some(f);
        }
        let a_uki = dir.path().join("a.efi");
        Uki {
            kernel: &parts.kernel,
            initrd: &parts.initrd("1"),
            cmdline: &a_cmdline,
            version: "1",
        }
        .build(&a_uki);
        crate::uki::assert_layout(&a_uki);
        let disk = Layout::build(
            &dir.path().join("disk.img"),
            &LayoutOpts {
                esp_mib: 96,
                slot_mib: 8,
                data_mib: 96,
                a_version: "1".into(),
                a_store: parts.store("1"),
                esp_files: vec![
                    (
                        "EFI/BOOT/BOOTX64.EFI".into(),
                        std::fs::read(SYSTEMD_BOOT).unwrap(),
                    ),
                    (
                        "EFI/Linux/kateskit_1.efi".into(),
                        std::fs::read(&a_uki).unwrap(),
                    ),
                ],
            },
        );
        std::fs::remove_file(&a_uki).unwrap();
        Node {
            machine: Machine::new(dir.path(), name, &disk.path),
            _api: api,
            disk,
            files,
            _dir: dir,
        }
    }

    /// One boot, then the ESP's entries and the store slots' GPT names.
    pub fn boot(&mut self, bound: Duration) -> After {
        let boot = self.machine.boot(bound);
        let entries = self.disk.esp_names("EFI/Linux");
        let slots = [SLOT_A, SLOT_B]
            .map(|n| sgdisk_info(&self.disk.path, n).2)
            .to_vec();
        eprintln!(
            "{} after boot {}: entries {entries:?}, slots {slots:?}",
            self.machine.name, boot.n
        );
        After {
            boot,
            entries,
            slots,
        }
    }

    /// Boots until the init powers the machine off (at most `max` boots, each bounded).
    pub fn run(&mut self, max: usize, bound: Duration) -> Vec<After> {
        let t0 = std::time::Instant::now();
        let mut boots = Vec::new();
        loop {
            let a = self.boot(bound);
            let off = a.boot.marker("END") == Some("poweroff");
            boots.push(a);
            if off {
                break;
            }
            assert!(
                boots.len() < max,
                "{}: still not powered off after {max} boots",
                self.machine.name
            );
        }
        let times: Vec<String> = boots
            .iter()
            .map(|a| format!("{:.1}s", a.boot.took.as_secs_f64()))
            .collect();
        eprintln!(
            "{}: {} boots in {:.1} s ({})",
            self.machine.name,
            boots.len(),
            t0.elapsed().as_secs_f64(),
            times.join(", ")
        );
        boots
    }
}

/// `kateskit node status --json` as the guest printed it.
pub fn status(a: &After) -> serde_json::Value {
    let text = a
        .boot
        .section("STATUS")
        .unwrap_or_else(|| panic!("no status printed:\n{}", a.boot.log));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("status is not JSON ({e}):\n{text}"))
}
