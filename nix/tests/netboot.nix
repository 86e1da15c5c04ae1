# PXE on the test VLAN: a server VM runs services.kateskit-netboot in full DHCP mode with the
# cluster's generic netboot set; a diskless client VM (SeaBIOS and QEMU's iPXE ROM, booting
# from the network) gets an address, the boot script, kernel and initrd from it, and its agent
# fetches its config over HTTPS pinned by the kernel arguments and reports back: the server's
# status shows the node with its timeline.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/netboot;
  dir = t.clusterDir "netboot" spec;
  mac = "52:54:00:12:01:99";
  # The client boots the netboot set, so the driver's shell must be in it.
  testModule = { modulesPath, ... }: {
    imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];
    kateskit.bundle.airgapImages = true;
  };
  cluster = kit.mkCluster { inherit spec; modules = [ testModule ]; };
  status = "kateskit netboot status --state /var/lib/kateskit-netboot --mac ${mac} --json";
  # The whole boot in the timeline, and a phase the agent posted.
  seen = "${status} | jq -e '.[0] | .node == \"n1\" and .phase != null and ([.timeline[].kind] | contains([\"dhcp\", \"script\", \"kernel\", \"initrd\", \"config\", \"phase\"]))'";
  joined = "${status} | jq -e '.[0].state == \"joined\"'";
in
pkgs.testers.runNixOSTest {
  name = "kateskit-netboot";
  nodes.server = { pkgs, ... }: {
    imports = [ self.nixosModules.kateskit ];
    # eth1: 192.168.1.1/24 on VLAN 1 (the driver numbers the nodes).
    virtualisation.vlans = [ 1 ];
    virtualisation.memorySize = 1024;
    environment.systemPackages = [ pkgs.jq ];
    services.kateskit-netboot = {
      enable = true;
      interface = "eth1";
      dhcp = "full";
      range = { first = "192.168.1.100"; last = "192.168.1.150"; };
      cluster = "/var/lib/kateskit/netboot";
      artifacts = cluster.generic.images.netboot;
      openFirewall = true;
    };
    # Test only: the cluster directory made at build time (its secrets are in the store) is
    # copied where an operator would keep it, readable by the service's user.
    systemd.services.test-cluster-dir = {
      requiredBy = [ "kateskit-netboot.service" ];
      before = [ "kateskit-netboot.service" ];
      serviceConfig.Type = "oneshot";
      script = ''
        install -d -m 0755 /var/lib/kateskit
        rm -rf /var/lib/kateskit/netboot
        cp -r --no-preserve=mode ${dir} /var/lib/kateskit/netboot
        chown -R kateskit-netboot:kateskit-netboot /var/lib/kateskit/netboot
        chmod -R go-rwx /var/lib/kateskit/netboot
      '';
    };
  };
  globalTimeout = 3600;
  testScript = ''
    server.start()
    server.wait_for_unit("kateskit-netboot.service", timeout=300)
    server.wait_until_succeeds("journalctl -u kateskit-netboot.service | grep -q 'serving dhcp=full'", timeout=120)

    # Memory for the ramdisk (the whole store) plus k3s and its images on the tmpfs root.
    client = create_machine("${t.qemu} -m 6144 -smp 2 -boot order=n -netdev vde,id=n1,sock=$QEMU_VDE_SOCKET_1 -device virtio-net-pci,netdev=n1,mac=${mac}")
    client.start()
    client.wait_for_unit("kateskit-agent.service", timeout=1800)
    # Booted by the served script: its config came from the pinned HTTPS endpoint.
    client.succeed("grep -q 'kateskit.config_url=https://192.168.1.1:8443/v1/config/' /proc/cmdline")
    client.succeed("grep -q 'kateskit.config_tls_sha256=' /proc/cmdline")
    client.succeed("grep -qx 'K3S_ROLE=server' /etc/kateskit/k3s.env")
    # The netboot system carries no raw image (it is served as install.img instead).
    client.fail("test -e /etc/kateskit/install.img")

    server.wait_until_succeeds(${t.py seen}, timeout=900)
    # The node's secrets never reach the fleet state or the status output.
    server.fail("grep -q K10 /var/lib/kateskit-netboot/fleet.json")

    # The agent's second run, after k3s, verifies the join; serve hands a server's config out
    # once per approval, so that run must get by without fetching it again.
    client.wait_for_unit("kateskit-join.service", timeout=1800)
    server.wait_until_succeeds(${t.py joined}, timeout=600)
  '';
}
