# The homelab ISO, stamped for node `box`, boots in QEMU; the agent completes and k3s reports
# the node Ready. k3s's images come from the airgap archive (the build sandbox has no network).
{ pkgs, self, kit, t }:
let
  testModule = { modulesPath, ... }: {
    imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];
    kateskit.bundle.airgapImages = true;
    # The VM reaches no network: without the homelab's chart archive (Longhorn) in the image
    # the agent's k3s-config phase fails and k3s never starts.
    kateskit.bundle.chartArchives = true;
  };
  cluster = kit.mkCluster { spec = ../../examples/homelab; modules = [ testModule ]; };
  dir = t.clusterDir "homelab" ../../examples/homelab;
  isoDir = cluster.nodes.box.images.iso;
  isoFile = pkgs.runCommand "box.iso" { } "cp ${isoDir}/iso/*.iso $out";
  stamped = t.stamp isoFile dir "box";
in
pkgs.testers.runNixOSTest {
  name = "kateskit-iso-single-node";
  nodes = { };
  globalTimeout = 1800;
  testScript = ''
    machine = create_machine("${t.qemu} -m 3072 -smp 2 -cdrom ${stamped}/image -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01")
    machine.start()
    machine.wait_for_unit("kateskit-agent.service", timeout=900)
    machine.succeed("test -s /etc/kateskit/k3s.env")
    machine.succeed("grep -qx 'K3S_ROLE=server' /etc/kateskit/k3s.env")
    machine.wait_for_unit("k3s.service", timeout=600)
    machine.wait_until_succeeds(${t.readyCheck "box"}, timeout=900)
    # The second agent run verified the join (/cacerts against the token's CA hash, Ready).
    machine.wait_for_unit("kateskit-join.service", timeout=900)
    machine.succeed("kateskit agent status --json | grep -q '\"ok\": true'")
    # The embed area was read from the ISO, not from a fallback.
    machine.succeed("test -f /iso/kateskit/embed.img")
    machine.shutdown()
  '';
}
