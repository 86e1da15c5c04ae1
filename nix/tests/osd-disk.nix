# A server with an extra blank disk declared as an OSD: after boot the agent has prepared it
# (journaled, still raw for Rook: no partitions, no file system, not mounted), and the run after
# k3s has created Rook's rook-ceph-mon Secret with the cluster directory's fsid and keys through
# the real k3s API before writing Rook's manifests. (The Rook operator itself needs images from
# a registry, which the VM cannot reach, so Rook's adoption of the Secret is not observed here.)
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/osd;
  dir = t.clusterDir "osd" spec;
in
pkgs.testers.runNixOSTest {
  name = "kateskit-osd-disk";
  nodes.storage = { lib, ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir "storage")) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = "storage";
    kateskit.bundle.airgapImages = true;
    # The agent installs a chart only from a verified archive in k3s's static charts directory.
    # Rook's lock entry has no digest yet, so only an archive the image ships is accepted; this
    # stand-in lets the join phase seed the Secret and write Rook's files (the operator cannot
    # run here anyway). Once the lock has Rook's digest, use kateskit.bundle.chartArchives.
    # The CSI drivers chart has a digest, so the agent verifies it: ship the real archive.
    services.k3s.charts.rook_ceph = pkgs.writeText "rook_ceph.tgz" "stand-in archive";
    services.k3s.charts.rook_csi_drivers =
      let pin = (builtins.fromTOML (builtins.readFile ../../bundle/charts.toml)).rook_csi_drivers;
      in pkgs.fetchurl { url = pin.url; sha256 = lib.removePrefix "sha256:" pin.digest; };
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
    # The Ceph identity from `cluster init` is seeded into Rook's Secret, then Rook is deployed.
    storage.wait_for_unit("kateskit-join.service", timeout=900)
    fsid = open("${dir}/secrets/ceph-fsid").read().strip()
    mon = open("${dir}/secrets/ceph-mon-secret").read().strip()
    get = "k3s kubectl -n rook-ceph get secret rook-ceph-mon -o jsonpath='{.data.%s}' | base64 -d"
    assert storage.succeed(get % "fsid").strip() == fsid
    assert storage.succeed(get % "mon-secret").strip() == mon
    assert storage.succeed(get % "ceph-username").strip() == "client.admin"
    storage.succeed("grep -q 'rook-ceph-mon created' /var/lib/kateskit/journal.json")
    storage.succeed("test -f /var/lib/rancher/k3s/server/manifests/rook-ceph-cluster.yaml")
    storage.succeed("grep -q 'static/charts/rook_csi_drivers.tgz' /var/lib/rancher/k3s/server/manifests/rook-ceph-operator.yaml")
    # A restart of the agent finds the Secret and changes nothing.
    storage.succeed("systemctl restart kateskit-join.service")
    storage.succeed("grep -q 'already present with the same fsid' /var/lib/kateskit/journal.json")
    assert storage.succeed(get % "fsid").strip() == fsid
  '';
}
