//! A node root for the health gate and the upgrade watcher, run as plain processes: what the
//! agent's last run left for k3s (role, drop-in), the kubeconfig k3s writes, pointing at the
//! k3s STAND-IN ([`super::standin`]) with this node registered ([`super::nodes`]), a stand-in
//! `systemctl` whose k3s state the test sets and which logs every call, the loader's EFI
//! variables for a counted boot of version 2, and the kernel's boot id.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::etcd::EtcdPki;
use super::standin::{self, Opts, StandIn};

pub const GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

pub struct GateNode {
    pub root: tempfile::TempDir,
    pub aux: tempfile::TempDir,
    pub api: StandIn,
    pub name: String,
    pub env: Vec<(String, String)>,
}

const SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$AUX/systemctl.log"
if [ "$1" = is-active ]; then
  state=$(cat "$AUX/k3s-state")
  echo "$state"
  [ "$state" = active ]
  exit $?
fi
exit 0
"#;

impl GateNode {
    /// A node named `name` with role `role` (`server`/`agent`); `dropin` is appended to the
    /// kateskit k3s drop-in after `node-name`.
    pub fn new(role: &str, name: &str, dropin: &str) -> GateNode {
        let (ca, key) = standin::other_ca();
        let api = standin::start(Opts::new(&ca, &key, "unused", "unused"));
        api.nodes.lock().unwrap().add(name, "True", "boot-1");
        let n = GateNode {
            root: tempfile::tempdir().unwrap(),
            aux: tempfile::tempdir().unwrap(),
            api,
            name: name.into(),
            env: Vec::new(),
        };
        n.write("etc/kateskit/k3s.env", format!("K3S_ROLE={role}\n"));
        n.write(
            "etc/rancher/k3s/config.yaml.d/10-kateskit.yaml",
            format!("# Written by kateskit\nnode-name: {name}\n{dropin}"),
        );
        if role == "server" {
            n.write(
                "etc/rancher/k3s/k3s.yaml",
                standin::server_kubeconfig(&n.api, &ca),
            );
        } else {
            n.kubelet_kubeconfig(&ca);
        }
        n.set_boot_id("boot-1");
        n.set_k3s("active");
        let sc = n.aux.path().join("systemctl");
        std::fs::write(&sc, SYSTEMCTL).unwrap();
        std::fs::set_permissions(&sc, std::fs::Permissions::from_mode(0o755)).unwrap();
        n.booted(
            "kateskit_2+2-0.efi",
            Some("\\EFI\\Linux\\kateskit_2+1-1.efi"),
        );
        n
    }

    fn kubelet_kubeconfig(&self, ca: &str) {
        let (cert, key) = standin::client_identity();
        let d = "var/lib/rancher/k3s/agent";
        self.write(&format!("{d}/server-ca.crt"), ca);
        self.write(&format!("{d}/client-kubelet.crt"), cert);
        self.write(&format!("{d}/client-kubelet.key"), key);
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n    certificate-authority: /{d}/server-ca.crt\n  name: local\nusers:\n- name: user\n  user:\n    client-certificate: /{d}/client-kubelet.crt\n    client-key: /{d}/client-kubelet.key\n",
            self.api.url()
        );
        self.write(&format!("{d}/kubelet.kubeconfig"), kc);
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn aux(&self) -> &Path {
        self.aux.path()
    }

    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    pub fn set_k3s(&self, state: &str) {
        std::fs::write(self.aux().join("k3s-state"), state).unwrap();
    }

    pub fn set_boot_id(&self, id: &str) {
        self.write("proc/sys/kernel/random/boot_id", format!("{id}\n"));
    }

    /// The loader's variables for a boot of `selected` (and its counted file, if any).
    pub fn booted(&self, selected: &str, count_path: Option<&str>) {
        let dir = self.aux().join("efivars");
        std::fs::create_dir_all(&dir).unwrap();
        let var = |name: &str| dir.join(format!("{name}-{GUID}"));
        std::fs::write(
            var("LoaderEntrySelected"),
            kateskit::slots::efivars::encode(selected),
        )
        .unwrap();
        match count_path {
            Some(p) => std::fs::write(
                var("LoaderBootCountPath"),
                kateskit::slots::efivars::encode(p),
            )
            .unwrap(),
            None => {
                let _ = std::fs::remove_file(var("LoaderBootCountPath"));
            }
        }
    }

    /// Places the etcd client certificate k3s writes, issued by `pki` (or another CA's).
    pub fn etcd_client(&self, ca_pem: &str, cert: &str, key: &str) {
        let d = "var/lib/rancher/k3s/server/tls/etcd";
        self.write(&format!("{d}/server-ca.crt"), ca_pem);
        self.write(&format!("{d}/client.crt"), cert);
        self.write(&format!("{d}/client.key"), key);
    }

    pub fn etcd_pki(&self, pki: &EtcdPki) {
        self.etcd_client(&pki.ca_pem, &pki.client_cert, &pki.client_key);
    }

    pub fn setenv(&mut self, k: &str, v: &str) {
        self.env.retain(|(ek, _)| ek != k);
        self.env.push((k.into(), v.into()));
    }

    /// `kateskit ARGS` against this root with the stand-ins.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("kateskit"));
        c.args(args)
            .current_dir(self.aux())
            .env("KATESKIT_ROOT", self.root.path())
            .env("KATESKIT_SYSTEMCTL", self.aux().join("systemctl"))
            .env("KATESKIT_EFIVARS_DIR", self.aux().join("efivars"))
            .env("AUX", self.aux());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `kateskit agent health --timeout T --json`, and the health.json it wrote.
    pub fn health(&self, timeout: &str) -> (Output, Option<serde_json::Value>) {
        let out = self
            .command(&["agent", "health", "--timeout", timeout, "--json"])
            .output()
            .unwrap();
        let file = std::fs::read(self.path("var/lib/kateskit/upgrade/health.json")).ok();
        (out, file.map(|b| serde_json::from_slice(&b).unwrap()))
    }

    /// Lines `systemctl` was called with.
    pub fn systemctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.aux().join("systemctl.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The check named `name` of a health report: (state, detail).
pub fn check(report: &serde_json::Value, name: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"));
    (
        c["state"].as_str().unwrap().into(),
        c["detail"].as_str().unwrap().into(),
    )
}
