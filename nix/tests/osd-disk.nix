# A server with an extra blank disk declared as an OSD: after boot the agent has prepared it
# (journaled, still raw for Rook: no partitions, no file system, not mounted).
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/osd;
  dir = t.clusterDir "osd" spec;
in
pkgs.testers.runNixOSTest {
  name = "kateskit-osd-disk";
  nodes.storage = { ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir "storage")) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = "storage";
    kateskit.bundle.airgapImages = true;
    virtualisation.memorySize = 2048;
    virtualisation.qemu.drives = [{ file = "$NIX_BUILD_TOP/osd0.qcow2"; deviceExtraOpts.serial = "osd0"; }];
  };
  globalTimeout = 1200;
  testScript = ''
    import os, subprocess
    subprocess.run(["${pkgs.qemu_test}/bin/qemu-img", "create", "-f", "qcow2", os.environ["NIX_BUILD_TOP"] + "/osd0.qcow2", "8G"], check=True)
    storage.start()
    storage.wait_for_unit("kateskit-agent.service", timeout=600)
    storage.succeed("test -b /dev/disk/by-id/virtio-osd0")
    storage.succeed("grep -q 'virtio-osd0' /var/lib/kateskit/journal.json")
    storage.fail("findmnt --source /dev/disk/by-id/virtio-osd0")
    storage.succeed("test -z \"$(lsblk -no FSTYPE /dev/disk/by-id/virtio-osd0 | tr -d '[:space:]')\"")
    storage.succeed("test \"$(lsblk -no NAME /dev/disk/by-id/virtio-osd0 | wc -l)\" -eq 1")
    # The rbd module Rook needs is loaded.
    storage.succeed("test -d /sys/module/rbd")
  '';
}
