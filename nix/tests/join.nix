# A server and an agent, each given its stamped NodeConfig through the netboot embed path
# (/run/kateskit/embed.img), form a two-node cluster.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/pair;
  dir = t.clusterDir "pair" spec;
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
in
pkgs.testers.runNixOSTest {
  name = "kateskit-join-server-agent";
  nodes = { server = node "server"; agent = node "agent"; };
  globalTimeout = 1800;
  testScript = ''
    start_all()
    server.wait_for_unit("kateskit-agent.service", timeout=600)
    agent.wait_for_unit("kateskit-agent.service", timeout=600)
    server.succeed("grep -qx 'K3S_ROLE=server' /etc/kateskit/k3s.env")
    agent.succeed("grep -qx 'K3S_ROLE=agent' /etc/kateskit/k3s.env")
    server.wait_until_succeeds(${t.readyCheck "server"}, timeout=900)
    server.wait_until_succeeds(${t.readyCheck "agent"}, timeout=900)
    # Both agents verified their join against the pinned CA after k3s started.
    server.wait_for_unit("kateskit-join.service", timeout=900)
    agent.wait_for_unit("kateskit-join.service", timeout=900)
    # The agent joined with the agent token and pinned the CA: it holds no CA keys.
    agent.fail("test -e /var/lib/rancher/k3s/server/tls/server-ca.key")
  '';
}
