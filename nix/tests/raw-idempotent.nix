# The raw image, stamped for node `box`, booted twice: the second boot changes nothing the
# agent owns (k3s config, role file, partition table, embed partition).
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
  rawDir = cluster.nodes.box.images.raw;
  # The disk image, not the split store slot (<image>.store.raw) beside it.
  rawFile = pkgs.runCommand "box.raw" { } "cp $(ls ${rawDir}/*.raw | grep -v '[.]store[.]raw$') $out";
  stamped = t.stamp rawFile dir "box";
  snapshot = "sha256sum /etc/kateskit/k3s.env /etc/rancher/k3s/config.yaml.d/* /dev/disk/by-partlabel/KATESKIT-EMBED; sfdisk -d /dev/vda | grep -v '^last-lba'";
in
pkgs.testers.runNixOSTest {
  name = "kateskit-raw-idempotent";
  nodes = { };
  globalTimeout = 1800;
  testScript = ''
    import os, subprocess
    disk = os.environ["NIX_BUILD_TOP"] + "/disk.qcow2"
    subprocess.run(["${pkgs.qemu_test}/bin/qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "${stamped}/image", disk, "8G"], check=True)
    cmd = f"${t.qemu} -m 3072 -smp 2 -drive if=pflash,format=raw,unit=0,readonly=on,file=${pkgs.OVMF.firmware} -drive if=pflash,format=raw,unit=1,readonly=on,file=${pkgs.OVMF.variables} -drive file={disk},if=virtio -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01"

    machine = create_machine(cmd)
    machine.start()
    machine.wait_for_unit("kateskit-agent.service", timeout=900)
    machine.wait_until_succeeds(${t.readyCheck "box"}, timeout=900)
    first = machine.succeed("${snapshot}")
    machine.shutdown()

    machine = create_machine(cmd)
    machine.start()
    machine.wait_for_unit("kateskit-agent.service", timeout=900)
    machine.wait_until_succeeds(${t.readyCheck "box"}, timeout=900)
    second = machine.succeed("${snapshot}")
    assert first == second, f"second boot changed agent-owned state:\n{first}\n---\n{second}"
    machine.shutdown()
  '';
}
