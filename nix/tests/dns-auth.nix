# Internal DNS and the auth proxy on one server (fixtures/dns-auth):
#   * k8s-gateway answers for the zone: the auth proxy's Ingress host resolves, through the
#     k8s-gateway Service, to the Ingress address (Traefik's servicelb address, the node's);
#   * the auth proxy sends an unauthenticated login to dex: /oauth2/start answers HTTP 302 with
#     a Location under the issuer (https://dex.lab.internal/auth?...), over TLS from the
#     cluster's Ingress CA (`kateskit cluster ingress-ca` prints it; curl checks against it).
# Pods resolve lab.internal only where something forwards the zone to k8s-gateway (a site's DNS
# delegates it); the test does that with k3s CoreDNS's `coredns-custom` ConfigMap, so the proxy
# can discover dex. Needs the charts' images (bundle-images.nix `dns_auth`, empty in the
# repository: the check fails at once naming them until they are filled in); k3s's own come
# from its airgap archive.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/dns-auth;
  dir = t.clusterDir "dnsauth" spec;
  images = (import ./bundle-images.nix).dns_auth;
  ingressCa = pkgs.runCommand "dnsauth-ingress-ca.pem" { nativeBuildInputs = [ self.packages.${pkgs.stdenv.hostPlatform.system}.kateskit ]; } ''
    kateskit cluster ingress-ca ${dir} > $out
  '';
in
t.needsImages "vm-dns-auth" images (pulled: pkgs.testers.runNixOSTest {
  name = "kateskit-dns-auth";
  nodes.web = { pkgs, ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir "web")) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = "web";
    kateskit.bundle.airgapImages = true;
    kateskit.bundle.chartArchives = true;
    kateskit.bundle.images = pulled;
    environment.systemPackages = [ pkgs.dig pkgs.curl ];
    virtualisation.memorySize = 4096;
    virtualisation.diskSize = 8192;
    virtualisation.cores = 2;
  };
  globalTimeout = 3600;
  testScript = ''
    web.start()
    web.wait_for_unit("kateskit-agent.service", timeout=600)
    web.wait_until_succeeds(${t.readyCheck "web"}, timeout=900)
    for chart in ["cert-manager", "k8s-gateway", "dex", "oauth2-proxy"]:
        web.wait_until_succeeds("k3s kubectl -n kube-system wait --for=condition=complete job/helm-install-" + chart + " --timeout=10s", timeout=1500)

    # Internal DNS: the proxy's Ingress host resolves to the Ingress address.
    gw = web.succeed("k3s kubectl -n k8s-gateway get svc k8s-gateway -o jsonpath='{.spec.clusterIP}'").strip()
    web.wait_until_succeeds(
        "k3s kubectl -n oauth2-proxy get ingress -o jsonpath='{.items[0].status.loadBalancer.ingress[0].ip}' | grep -q .",
        timeout=600,
    )
    ingress_ip = web.succeed("k3s kubectl -n oauth2-proxy get ingress -o jsonpath='{.items[0].status.loadBalancer.ingress[0].ip}'").strip()
    web.wait_until_succeeds("test \"$(dig +short @" + gw + " auth.lab.internal A)\" = " + ingress_ip, timeout=600)
    web.succeed("test \"$(dig +short @" + gw + " dex.lab.internal A)\" = " + ingress_ip)

    # Let pods resolve the zone too (what a site's DNS delegation does), so the proxy finds dex.
    web.succeed(
        "k3s kubectl -n kube-system create configmap coredns-custom "
        + "--from-literal=lab.server='lab.internal:53 { forward . " + gw + " }'"
    )
    web.succeed("k3s kubectl -n kube-system rollout restart deployment coredns")
    web.wait_until_succeeds("k3s kubectl -n oauth2-proxy rollout restart deployment oauth2-proxy && k3s kubectl -n oauth2-proxy rollout status deployment oauth2-proxy --timeout=60s", timeout=1200)

    # The proxy redirects a login to dex's authorization endpoint under the issuer.
    out = web.wait_until_succeeds(
        "curl -sS --cacert ${ingressCa} --resolve auth.lab.internal:443:" + ingress_ip
        + " -o /dev/null -w '%{http_code} %{redirect_url}' https://auth.lab.internal/oauth2/start"
        + " | grep -E '^302 https://dex\\.lab\\.internal/auth\\?'",
        timeout=900,
    )
    assert "client_id=kateskit-auth-proxy" in out, out
  '';
})
