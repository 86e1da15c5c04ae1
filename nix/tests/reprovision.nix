# Three servers form an etcd cluster; then s1, the server that ran `cluster-init`, loses its
# whole k3s state as a reinstall would. Its agent must find s2 or s3 serving the token's CA and
# rejoin through it (`server:` set, no `cluster-init`) instead of starting a second cluster.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/trio;
  dir = t.clusterDir "trio" spec;
  node = name: { ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir name)) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = name;
    kateskit.bundle.airgapImages = true;
    virtualisation.memorySize = 2048;
    virtualisation.diskSize = 4096;
    virtualisation.cores = 2;
  };
  dropin = "/etc/rancher/k3s/config.yaml.d/10-kateskit.yaml";
in
pkgs.testers.runNixOSTest {
  name = "kateskit-reprovision-first-server";
  nodes = { s1 = node "s1"; s2 = node "s2"; s3 = node "s3"; };
  globalTimeout = 2700;
  testScript = ''
    start_all()
    for m in (s1, s2, s3):
        m.wait_for_unit("kateskit-join.service", timeout=1200)
    s2.wait_until_succeeds(${t.readyCheck "s1"}, timeout=900)
    s2.wait_until_succeeds(${t.readyCheck "s2"}, timeout=900)
    s2.wait_until_succeeds(${t.readyCheck "s3"}, timeout=900)
    s1.succeed("grep -qx 'cluster-init: true' ${dropin}")

    # Reinstall s1: k3s stops, its Node goes (k3s then drops its etcd member) and its server
    # state, datastore included, is wiped (the agent's images stay, as a reinstalled image
    # would ship them again).
    s1.succeed("systemctl stop kateskit-join.service k3s.service")
    s2.succeed("k3s kubectl delete node s1")
    s1.succeed("rm -rf /var/lib/rancher/k3s/server /etc/rancher/k3s/k3s.yaml")
    s1.succeed("systemctl restart kateskit-agent.service")
    s1.succeed("grep -q '^server: https://192.168.1.[23]:6443$' ${dropin}")
    s1.fail("grep -q 'cluster-init' ${dropin}")
    s1.succeed("grep -q 'instead of cluster-init' /var/lib/kateskit/journal.json")
    s1.succeed("systemctl start k3s.service kateskit-join.service")

    # s1 is back in the same cluster: it sees s2 and s3, and they see it Ready.
    s2.wait_until_succeeds(${t.readyCheck "s1"}, timeout=900)
    s1.wait_until_succeeds(${t.readyCheck "s3"}, timeout=300)
  '';
}
