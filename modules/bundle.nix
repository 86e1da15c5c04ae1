# The core bundle, host side. Which component runs is decided by the cluster spec and carried
# out on the server at boot:
#   * k3s packaged components (coredns, traefik, servicelb, local-storage, metrics-server) are
#     switched off with k3s `disable`, which the agent writes into the server's config
#     drop-in from NodeConfig.k3s.disable (nix/render.nix computes the same list);
#   * the other components are HelmChart manifests rendered by `kateskit::bundle::charts`
#     from bundle/charts.toml (chart repo, name, version, digest) and written by the agent into
#     /var/lib/rancher/k3s/server/manifests/; Rook's operator chart is pinned there too
#     ([rook_ceph], with its CSI drivers chart [rook_csi_drivers]) and its files are written
#     once its mon Secret exists (docs/disks.md); kube-vip ([kube_vip]) comes with its cloud
#     provider's chart ([kube_vip_cloud_provider]).
# What the image adds, for air-gapped sites: the k3s airgap image archive through
# `services.k3s.images`, and the locked chart archives in k3s's static charts directory
# (`services.k3s.charts`), fetched at build time and checked against the lock's digests.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  lock = builtins.fromTOML (builtins.readFile cfg.bundle.lockFile);
  b = cfg.cluster.normalized.bundle or { };

  # Components the spec switches on that are installed from a chart.
  wanted = lib.optionals (b.kube_vip.enable or false) [ "kube_vip" "kube_vip_cloud_provider" ]
    ++ builtins.filter (c: (b.${c}.enable or false)) [ "dex" "auth_proxy" "dashboard" "cert_manager" "internal_dns" ]
    ++ lib.optional ((b.storage or "") == "longhorn") "longhorn"
    ++ lib.optionals ((b.storage or "") == "rook-ceph") [ "rook_ceph" "rook_csi_drivers" ];

  hexDigest = c: lib.removePrefix "sha256:" lock.${c}.digest;
  hasDigest = c: lock ? ${c} && (lock.${c}.digest or "") != "";
  noDigest = builtins.filter (c: !(hasDigest c)) wanted;
in
{
  options.kateskit.bundle = {
    lockFile = lib.mkOption {
      type = lib.types.path;
      default = ../bundle/charts.toml;
      description = "Chart lock file: repo, chart, version, archive URL and sha256 digest per component.";
    };
    airgapImages = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Link the k3s package's airgap image archive (`airgap-images`) into
        /var/lib/rancher/k3s/agent/images, so k3s's own images need no registry. Adds the
        archive (several hundred MiB) to the image.
      '';
    };
    images = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      example = lib.literalExpression ''[ (pkgs.dockerTools.pullImage { imageName = "ghcr.io/kube-vip/kube-vip"; finalImageTag = "v1.0.4"; imageDigest = "sha256:..."; hash = "sha256-..."; }) ]'';
      description = ''
        Container image archives (docker-archive or OCI tarballs) of the chart components,
        imported by k3s at start (`services.k3s.images`), so an air-gapped site runs the
        bundle without a registry. The charts' own images are not fetched by KatesKit: with
        kube_vip on, that is ghcr.io/kube-vip/kube-vip:v1.0.4 and
        kubevip/kube-vip-cloud-provider:v0.0.12 (the pinned charts' appVersion); every chart
        also needs k3s's helm-controller job image, which `airgapImages` brings.
      '';
    };
    chartArchives = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Fetch the locked chart archive of every enabled chart component at build time (hash =
        the lock's digest) and place it in k3s's static charts directory as <component>.tgz,
        so HelmCharts rendered with the static source need no chart repository. Container
        images of those charts still come from registries.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = !cfg.bundle.chartArchives || noDigest == [ ];
      message = "kateskit.bundle.chartArchives needs a sha256 digest in ${toString cfg.bundle.lockFile} for: ${lib.concatStringsSep ", " noDigest}. Add `digest = \"sha256:<hex>\"` from the chart repository's index.yaml, or turn chartArchives off.";
    }];

    services.k3s.images = lib.optional cfg.bundle.airgapImages config.services.k3s.package.airgap-images
      ++ cfg.bundle.images;

    services.k3s.charts = lib.mkIf cfg.bundle.chartArchives (lib.genAttrs wanted (c: pkgs.fetchurl {
      url = lock.${c}.url;
      sha256 = hexDigest c;
    }));
  };
}
