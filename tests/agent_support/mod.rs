//! Shared support for the agent tests: a cluster with fresh secrets, a node root the agent runs
//! against as a plain process, a tiny HTTP server for config_url, a stand-in chart repository, and file-tree snapshots.
#![allow(dead_code)]

pub mod charts;
pub mod etcd;
pub mod flat;
pub mod gate;
pub mod https;
pub mod initramfs;
pub mod joining;
pub mod kubeapi;
/// Loop devices over sparse files, shared with the disk tests.
#[path = "../common/mod.rs"]
pub mod loopdev;
pub mod machine;
pub mod nodes;
pub mod peers;
pub mod standin;
pub mod trust;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("kateskit").expect("kateskit binary built")
}

/// A cluster directory made from an example cluster.toml, with secrets from `cluster init`.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn new(example: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        bin()
            .args(["cluster", "init"])
            .arg(dir.path())
            .assert()
            .success();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example)
            .join("cluster.toml");
        std::fs::copy(src, dir.path().join("cluster.toml")).unwrap();
        Cluster { dir }
    }

    /// The node's full NodeConfig JSON (with secrets).
    pub fn render(&self, node: &str) -> Value {
        let out = bin()
            .args(["cluster", "render"])
            .arg(self.dir.path())
            .args(["--node", node])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn node_config(&self, node: &str) -> kateskit::nodecfg::NodeConfig {
        serde_json::from_value(self.render(node)).unwrap()
    }
}

/// A node's root directory and the environment the agent sees.
pub struct Node {
    pub root: tempfile::TempDir,
    aux: tempfile::TempDir,
    pub cmdline: PathBuf,
    pub env: Vec<(String, String)>,
    /// Loop devices standing behind the declared OSD disks, by by-id path; shared by nodes made
    /// with [`Node::sharing_cmdline`] so their journals name the same devices.
    disks: Arc<Mutex<BTreeMap<String, loopdev::LoopDev>>>,
}

impl Node {
    pub fn new() -> Node {
        let root = tempfile::tempdir().unwrap();
        let aux = tempfile::tempdir().unwrap();
        let cmdline = aux.path().join("cmdline");
        std::fs::write(&cmdline, "console=ttyS0 quiet\n").unwrap();
        std::fs::create_dir_all(root.path().join("dev/disk/by-id")).unwrap();
        let env = vec![
            ("KATESKIT_SYSTEMCTL".into(), "true".into()),
            ("KATESKIT_K3S_LOG_CMD".into(), "true".into()),
            (
                "KATESKIT_CHART_LOCK".into(),
                charts::shared_lock().display().to_string(),
            ),
        ];
        Node {
            root,
            aux,
            cmdline,
            env,
            disks: Arc::default(),
        }
    }

    /// A second node reading the same kernel command line file (identical source names).
    pub fn sharing_cmdline(other: &Node) -> Node {
        let mut n = Node::new();
        n.cmdline = other.cmdline.clone();
        n.env = other.env.clone();
        n.disks = other.disks.clone();
        n
    }

    /// A scratch directory outside the root (scripts, logs).
    pub fn aux(&self) -> &Path {
        self.aux.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn set_cmdline(&self, line: &str) {
        std::fs::write(&self.cmdline, line).unwrap();
    }

    pub fn image_defaults(&self, cfg: &Value) {
        self.write(
            "etc/kateskit/image.json",
            serde_json::to_vec_pretty(cfg).unwrap(),
        );
    }

    /// Backs every declared OSD disk with a blank 6 GiB loop device (sparse) and links its
    /// by-id path to it, so the disks phase runs the real disk module. Needs root.
    pub fn attach_osd_disks(&self, cfg: &Value) {
        assert!(
            loopdev::loop_devices_available(),
            "the agent's disks phase is tested on loop devices: run as root (tests/run does)"
        );
        let mut disks = self.disks.lock().unwrap();
        for d in cfg["storage"]["osd_disks"].as_array().unwrap() {
            let by_id = d["by_id"].as_str().unwrap();
            let dev = disks
                .entry(by_id.to_string())
                .or_insert_with(|| loopdev::LoopDev::new(6 << 30));
            let link = self.path(by_id.trim_start_matches('/'));
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&dev.dev, &link).unwrap();
        }
    }

    /// The loop device behind a declared OSD disk (after [`Node::attach_osd_disks`]).
    pub fn osd_device(&self, by_id: &str) -> PathBuf {
        self.disks.lock().unwrap()[by_id].dev.clone()
    }

    /// Digest of the bytes behind a declared OSD disk.
    pub fn osd_digest(&self, by_id: &str) -> String {
        self.disks.lock().unwrap()[by_id].digest()
    }

    pub fn setenv(&mut self, k: &str, v: &str) {
        self.env.retain(|(ek, _)| ek != k);
        self.env.push((k.into(), v.into()));
    }

    pub fn run(&self, extra: &[(&str, &str)]) -> Output {
        self.run_with_args(&[], extra)
    }

    /// `kateskit agent run ARGS...` against this root.
    pub fn run_with_args(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.command(args, extra).output().unwrap()
    }

    /// The `kateskit agent run ARGS...` command for this root, to spawn.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("kateskit"));
        use std::os::unix::process::CommandExt;
        // No core dumps from the fault-injection aborts.
        unsafe {
            c.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &lim);
                Ok(())
            });
        }
        c.current_dir(self.aux.path());
        c.args(["agent", "run"])
            .args(args)
            .env("KATESKIT_ROOT", self.root.path())
            .env("KATESKIT_CMDLINE", &self.cmdline)
            .env("KATESKIT_DEV_DIR", self.path("dev"));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }

    pub fn journal(&self) -> Value {
        serde_json::from_str(&self.read("var/lib/kateskit/journal.json")).unwrap()
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.read("run/kateskit/status.json")).unwrap()
    }

    /// The effective value at a config path, as the flat tree holds it.
    pub fn value(&self, path: &str) -> String {
        self.read(&format!("run/kateskit/config/{path}"))
            .trim_end()
            .to_string()
    }

    /// The source recorded for a config path.
    pub fn source(&self, path: &str) -> String {
        let s = self.read("run/kateskit/sources");
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{path} = ")))
            .unwrap_or_else(|| panic!("no source for {path} in:\n{s}"))
            .to_string()
    }

    /// Every file, symlink and directory under the root with content and mode.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        snap(self.root.path(), self.root.path(), &mut out);
        out
    }

    /// Modification times of every regular file under the root.
    pub fn mtimes(&self) -> BTreeMap<PathBuf, std::time::SystemTime> {
        self.snapshot()
            .keys()
            .filter_map(|rel| {
                let m = std::fs::symlink_metadata(self.root.path().join(rel)).ok()?;
                m.is_file().then(|| (rel.clone(), m.modified().unwrap()))
            })
            .collect()
    }
}

fn snap(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap().to_path_buf();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link -> {}", std::fs::read_link(&p).unwrap().display()),
            );
        } else if meta.is_dir() {
            out.insert(rel, format!("dir {mode:o}"));
            snap(base, &p, out);
        } else {
            out.insert(
                rel,
                format!(
                    "file {mode:o} {}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                ),
            );
        }
    }
}

/// A plain-HTTP server on 127.0.0.1 for config_url tests: path → (status, body); `/slow`
/// never answers.
pub fn http_server(routes: Vec<(&'static str, u16, Vec<u8>)>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                if path == "/slow" {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                let (status, body) = routes
                    .iter()
                    .find(|r| r.0 == path)
                    .map(|r| (r.1, r.2.clone()))
                    .unwrap_or((404, b"not found".to_vec()));
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    port
}
