# kube-vip on three servers (fixtures/vip-trio): the first server installs kube-vip from its
# verified archive, kube-vip takes the API VIP 192.168.1.100 by ARP, s2 and s3 join through
# the VIP (their only server URL), the VIP answers k3s's /ping and moves to another server when
# its holder dies, and Traefik's LoadBalancer Service gets an address from the service range
# (no servicelb). Needs kube-vip's images (bundle-images.nix `kube_vip`, empty in the
# repository: the check fails at once naming them until they are filled in); k3s's own come
# from its airgap archive.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/vip-trio;
  dir = t.clusterDir "viptrio" spec;
  images = (import ./bundle-images.nix).kube_vip;
  node = name: pulled: { pkgs, ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir name)) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = name;
    kateskit.bundle.airgapImages = true;
    kateskit.bundle.chartArchives = true;
    kateskit.bundle.images = pulled;
    environment.systemPackages = [ pkgs.curl ];
    virtualisation.memorySize = 2048;
    virtualisation.diskSize = 4096;
    virtualisation.cores = 2;
  };
  # Python string literal: prints the name of the server holding kube-vip's leader lease.
  holder = t.py "k3s kubectl -n kube-system get lease plndr-cp-lock -o jsonpath='{.spec.holderIdentity}'";
in
t.needsImages "vm-kube-vip" images (pulled: pkgs.testers.runNixOSTest {
  name = "kateskit-kube-vip";
  nodes = { s1 = node "s1" pulled; s2 = node "s2" pulled; s3 = node "s3" pulled; };
  globalTimeout = 3600;
  testScript = ''
    start_all()
    s1.wait_for_unit("kateskit-agent.service", timeout=600)
    s1.wait_until_succeeds(${t.readyCheck "s1"}, timeout=900)
    s1.wait_until_succeeds(${t.helmInstalled "kube-vip"}, timeout=900)
    # The VIP answers k3s's supervisor from every node, through whichever server holds it.
    for m in [s1, s2, s3]:
        m.wait_until_succeeds("curl -sfk https://192.168.1.100:6443/ping | grep -qx pong", timeout=900)
    s1.wait_until_succeeds(${t.readyCheck "s2"}, timeout=1200)
    s1.wait_until_succeeds(${t.readyCheck "s3"}, timeout=1200)
    s2.succeed("grep -q 'https://192.168.1.100:6443' /etc/rancher/k3s/config.yaml.d/*.yaml")

    # Traefik's Service gets its address from the range, announced by kube-vip.
    s1.wait_until_succeeds(
        "k3s kubectl -n kube-system get svc traefik -o jsonpath='{.status.loadBalancer.ingress[0].ip}' | grep -qE '^192\\.168\\.1\\.20[0-9]$'",
        timeout=900,
    )
    s1.fail("k3s kubectl -n kube-system get daemonset -l svccontroller.k3s.cattle.io/svcname=traefik -o name | grep -q .")

    # Failover: the holder dies (a crash, not `systemctl stop k3s`, which leaves its pods and so
    # its kube-vip running); the two others keep etcd's quorum and one takes the VIP.
    first = s1.succeed(${holder}).strip()
    machines = {"s1": s1, "s2": s2, "s3": s3}
    machines[first].crash()
    other = [m for n, m in machines.items() if n != first][0]
    other.wait_until_succeeds("curl -sfk https://192.168.1.100:6443/ping | grep -qx pong", timeout=300)
    other.wait_until_succeeds("test \"$(" + ${holder} + ")\" != " + first, timeout=300)
  '';
})
