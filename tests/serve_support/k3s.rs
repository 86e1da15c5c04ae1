//! A k3s supervisor STAND-IN for netboot guests: listening at the rack example's api_vip in
//! its own namespace on the guest's bridge, plus the kubelet files k3s would write on the node.

use crate::agent_support::standin;
use crate::netns::Netns;

/// Where the rack example's agents join (its api_vip).
pub const API_VIP: &str = "192.0.2.10:6443";

/// A k3s supervisor STAND-IN (tests/agent_support/standin.rs, not k3s) at the rack's api_vip
/// in its own namespace on bridge `br` of `srv`, knowing the cluster's CA and agent password; and the
/// kubelet files k3s would write on the node (its kubeconfig pointing there), for the
/// initramfs.
pub fn at_api_vip(
    srv: &Netns,
    br: &str,
    c: &crate::agent_support::Cluster,
) -> (Netns, standin::StandIn, Vec<(&'static str, String)>) {
    let ns = Netns::new("k3s");
    crate::netns::veth(srv, "k3s0", &ns, "eth0");
    srv.ip(&["link", "set", "k3s0", "master", br]);
    ns.ip(&["addr", "add", "192.0.2.10/24", "dev", "eth0"]);
    let tls = c.dir.path().join("secrets/tls");
    let ca = std::fs::read_to_string(tls.join("server-ca.crt")).unwrap();
    let key = std::fs::read_to_string(tls.join("server-ca.key")).unwrap();
    let secrets = kateskit::pki::load(c.dir.path()).unwrap();
    let o = standin::Opts::new(
        &ca,
        &key,
        secrets.server_token.password.expose(),
        secrets.agent_token.password.expose(),
    );
    let s = ns
        .spawn(move || standin::start_at(o, API_VIP.parse().unwrap()))
        .join()
        .unwrap();
    let (cert, ckey) = standin::client_identity();
    let dir = "var/lib/rancher/k3s/agent";
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://{API_VIP}\n    certificate-authority: /{dir}/server-ca.crt\n  name: local\nusers:\n- name: user\n  user:\n    client-certificate: /{dir}/client-kubelet.crt\n    client-key: /{dir}/client-kubelet.key\ncontexts:\n- context: {{cluster: local, user: user}}\n  name: default\ncurrent-context: default\n"
    );
    let files = vec![
        ("var/lib/rancher/k3s/agent/server-ca.crt", ca),
        ("var/lib/rancher/k3s/agent/client-kubelet.crt", cert),
        ("var/lib/rancher/k3s/agent/client-kubelet.key", ckey),
        ("var/lib/rancher/k3s/agent/kubelet.kubeconfig", kc),
    ];
    (ns, s, files)
}
