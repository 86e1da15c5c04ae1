# A/B upgrade of the real raw image under OVMF and systemd-boot: node `box` of the homelab
# boots image A (version 1.0, stamped), stages release B (2.0) from an HTTP feed on the test
# host, boots it, passes the health gate and is committed; then stages C (3.0), whose gate
# always fails: each of C's boots reboots (FailureAction=reboot), its boot counter runs out
# and systemd-boot boots B again with no operator; `kateskit node status` says rolled-back.
# QEMU runs with -no-reboot, so every guest reboot ends the QEMU process and the next boot is a
# fresh start on the same disk and the same (writable) firmware variables: the script never
# has to catch a reboot it did not ask for.
{ pkgs, self, kit, t }:
let
  tries = 3;
  testModule = { modulesPath, ... }: {
    imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];
    kateskit.bundle.airgapImages = true;
    # The VM reaches no network: without the homelab's chart archive (Longhorn) in the image
    # the agent's k3s-config phase fails and k3s never starts.
    kateskit.bundle.chartArchives = true;
    kateskit.upgrade.tries = tries;
  };
  release = version: extra: kit.mkCluster {
    spec = ../../examples/homelab;
    modules = [ testModule { kateskit.upgrade.version = version; } ] ++ extra;
  };
  # C: the gate fails at once on every boot.
  brokenGate = { lib, ... }: {
    systemd.services.kateskit-health.serviceConfig.ExecStart = lib.mkForce [ "" "${pkgs.coreutils}/bin/false" ];
  };
  a = (release "1.0" [ ]).nodes.box.images;
  b = (release "2.0" [ ]).nodes.box.images;
  c = (release "3.0" [ brokenGate ]).nodes.box.images;
  dir = t.clusterDir "homelab" ../../examples/homelab;
  rawFile = pkgs.runCommand "box-1.0.raw" { } "cp $(ls ${a.raw}/*.raw | grep -v '[.]store[.]raw$') $out";
  stamped = t.stamp rawFile dir "box";
  feed = pkgs.linkFarm "kateskit-feed" [
    { name = "b"; path = b.update; }
    { name = "c"; path = c.update; }
  ];
  status = "kateskit node status --json";
  efi = "ls /boot/EFI/Linux";
in
pkgs.testers.runNixOSTest {
  name = "kateskit-upgrade";
  nodes = { };
  globalTimeout = 5400;
  testScript = ''
    import hashlib, json, os, subprocess
    top = os.environ["NIX_BUILD_TOP"]
    disk = top + "/disk.qcow2"
    subprocess.run(["${pkgs.qemu_test}/bin/qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", "${stamped}/image", disk, "16G"], check=True)
    # systemd-boot's counters live on the ESP; the firmware's variables must be writable too.
    vars = top + "/vars.fd"
    subprocess.run(["install", "-m", "0644", "${pkgs.OVMF.variables}", vars], check=True)
    cmd = f"${t.qemu} -m 3072 -smp 2 -no-reboot -drive if=pflash,format=raw,unit=0,readonly=on,file=${pkgs.OVMF.firmware} -drive if=pflash,format=raw,unit=1,file={vars} -drive file={disk},if=virtio -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01"
    # The release feed, on the host's loopback (10.0.2.2 from the guest's user network).
    server = subprocess.Popen(["${pkgs.python3}/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", "${feed}", "8000"])
    url = "http://10.0.2.2:8000/"

    def sums(name):
        with open("${feed}/" + name + "/SHA256SUMS", "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def node_status():
        return json.loads(machine.succeed("${status}"))

    def booted(version, gated=True):
        # boot-complete.target is reached only once the health gate has passed.
        if gated:
            machine.wait_until_succeeds("systemctl is-active boot-complete.target", timeout=1800)
        machine.wait_until_succeeds(${t.readyCheck "box"}, timeout=900)
        st = node_status()
        assert st["version"] == version, st
        # The store this UKI mounts is the slot named for its version.
        src = machine.succeed("findmnt -nf -o SOURCE /nix/store").strip()
        slot = machine.succeed(f"readlink -f /dev/disk/by-partlabel/kateskit_{version}").strip()
        assert src == slot, f"/nix/store from {src}, slot kateskit_{version} is {slot}"
        return st

    machine = create_machine(cmd)
    machine.start()
    booted("1.0", gated=False)
    embed = machine.succeed("sha256sum /dev/disk/by-partlabel/KATESKIT-EMBED")
    machine.succeed("test -e /boot/EFI/Linux/kateskit_1.0.efi")
    machine.succeed("test -b /dev/disk/by-partlabel/_empty")

    with subtest("a good release boots, passes the gate and is committed"):
        machine.succeed(f"kateskit node stage {url}b/ --sums-sha256 {sums('b')} --tries ${toString tries} --json")
        machine.succeed("test -e /boot/EFI/Linux/kateskit_2.0+${toString tries}-0.efi")
        machine.shutdown()
        machine.start()
        booted("2.0")
        # Blessed (systemd-bless-boot, or `kateskit node commit` from kateskit-commit.service).
        machine.wait_until_succeeds("test -e /boot/EFI/Linux/kateskit_2.0.efi", timeout=600)
        entries = machine.succeed("${efi}")
        assert "kateskit_2.0+" not in entries, entries
        assert node_status()["last_upgrade"]["result"] == "committed", node_status()
        # Staged and booted again: nothing changes, the stamped node config is intact.
        machine.succeed(f"kateskit node stage {url}b/ --json")
        assert machine.succeed("sha256sum /dev/disk/by-partlabel/KATESKIT-EMBED") == embed
        machine.shutdown()
        machine.start()
        booted("2.0")

    with subtest("a release whose gate fails uses up its tries and the node is back on B"):
        machine.succeed(f"kateskit node stage {url}c/ --sums-sha256 {sums('c')} --tries ${toString tries} --json")
        machine.succeed("test -e /boot/EFI/Linux/kateskit_3.0+${toString tries}-0.efi")
        machine.shutdown()
        # Each boot of C fails its gate and reboots; with -no-reboot that ends QEMU.
        for attempt in range(${toString tries}):
            machine.start()
            machine.wait_for_shutdown()
        machine.start()
        st = booted("2.0")
        entries = machine.succeed("${efi}")
        assert "kateskit_3.0+0-${toString tries}.efi" in entries, entries
        assert st["last_upgrade"]["result"] == "rolled-back", st
        assert st["last_upgrade"]["to"] == "3.0", st
        assert st["rolled_back_from"] == "3.0", st
        assert machine.succeed("sha256sum /dev/disk/by-partlabel/KATESKIT-EMBED") == embed
        machine.shutdown()

    server.terminate()
  '';
}
