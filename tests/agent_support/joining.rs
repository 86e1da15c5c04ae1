//! Join-test setup shared by the join suites: a node of the rack example, the cluster's CA
//! and passwords for the supervisor STAND-IN ([`super::standin`]), and the agent run.

use super::standin::{self, Opts, StandIn};

/// For [`Setup::run_agent`]'s `extra`: join and ready bounds of 60 s instead of 3 s, for tests
/// that prove a rejection does not wait for them.
#[allow(dead_code)]
pub const LONG_BOUNDS: &str = "kateskit.agent.join_timeout_s=60 kateskit.agent.ready_timeout_s=60";
use super::{Cluster, Node};

pub struct Setup {
    pub cluster: Cluster,
    pub node: Node,
    pub ca_cert: String,
    pub ca_key: String,
    pub server_password: String,
    pub agent_password: String,
}

pub fn setup(name: &str) -> Setup {
    setup_with(name, |_| {})
}

/// A node of the rack example whose NodeConfig is edited by `edit` before it boots.
pub fn setup_with(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Setup {
    let cluster = Cluster::new("rack");
    let mut cfg = cluster.render(name);
    edit(&mut cfg);
    let node = Node::new();
    node.image_defaults(&cfg);
    node.attach_osd_disks(&cfg);
    let tls = cluster.dir.path().join("secrets/tls");
    let ca_cert = std::fs::read_to_string(tls.join("server-ca.crt")).unwrap();
    let ca_key = std::fs::read_to_string(tls.join("server-ca.key")).unwrap();
    let secrets = kateskit::pki::load(cluster.dir.path()).unwrap();
    Setup {
        cluster,
        node,
        ca_cert,
        ca_key,
        server_password: secrets.server_token.password.expose().to_string(),
        agent_password: secrets.agent_token.password.expose().to_string(),
    }
}

impl Setup {
    /// A stand-in that knows this cluster's real server and agent passwords.
    pub fn opts(&self) -> Opts {
        Opts::new(
            &self.ca_cert,
            &self.ca_key,
            &self.server_password,
            &self.agent_password,
        )
    }

    /// The agent's kubelet kubeconfig as k3s writes it: file paths under the agent dir.
    pub fn kubelet_kubeconfig(&self, s: &StandIn) {
        let (cert, key) = standin::client_identity();
        self.node
            .write("var/lib/rancher/k3s/agent/server-ca.crt", &self.ca_cert);
        self.node
            .write("var/lib/rancher/k3s/agent/client-kubelet.crt", cert);
        self.node
            .write("var/lib/rancher/k3s/agent/client-kubelet.key", key);
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n    certificate-authority: /var/lib/rancher/k3s/agent/server-ca.crt\n  name: local\nusers:\n- name: user\n  user:\n    client-certificate: /var/lib/rancher/k3s/agent/client-kubelet.crt\n    client-key: /var/lib/rancher/k3s/agent/client-kubelet.key\ncontexts:\n- context: {{cluster: local, user: user}}\n  name: default\ncurrent-context: default\n",
            s.url()
        );
        self.node
            .write("var/lib/rancher/k3s/agent/kubelet.kubeconfig", kc);
    }

    /// Runs the agent with 3 s join and ready bounds, unless `extra` is (or starts with)
    /// [`LONG_BOUNDS`].
    pub fn run_agent(&self, s_url: &str, extra: &str) -> (std::process::Output, serde_json::Value) {
        let (bounds, extra) = match extra.strip_prefix(LONG_BOUNDS) {
            Some(rest) => (LONG_BOUNDS, rest),
            None => (
                "kateskit.agent.join_timeout_s=3 kateskit.agent.ready_timeout_s=3",
                extra,
            ),
        };
        self.node.set_cmdline(&format!("console=ttyS0 kateskit.server={s_url} {bounds} kateskit.agent.http_timeout_s=1 {extra}"));
        let out = self.node.run(&[]);
        (out, self.node.journal())
    }
}

pub fn join_phase(j: &serde_json::Value) -> (String, String) {
    let p = j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "join")
        .unwrap();
    (
        p["outcome"].as_str().unwrap().to_string(),
        p["detail"].as_str().unwrap_or("").to_string(),
    )
}
