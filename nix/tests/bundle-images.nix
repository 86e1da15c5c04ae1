# Container images the bundle VM tests need. The test VMs reach no registry, and KatesKit pins
# chart archives (bundle/charts.toml), not image digests, so these entries name each image as
# its chart renders it at the pinned version and leave `imageDigest` and `hash` empty: fill
# both (e.g. `nix-prefetch-docker --image-name NAME --image-tag TAG`) to run a test. While any
# entry a test needs is empty, that check fails at once naming the missing images (lib.nix
# `needsImages`) instead of waiting on pods that can never pull.
#
# k3s's own images (CoreDNS, Traefik, servicelb, local-path, metrics-server and the
# helm-controller job image) come from the k3s package's airgap archive
# (`kateskit.bundle.airgapImages`), which every test turns on.
let
  image = imageName: finalImageTag: { inherit imageName finalImageTag; imageDigest = ""; hash = ""; };
in
{
  # kube-vip chart 0.9.9 (appVersion v1.0.4), kube-vip-cloud-provider chart 0.2.10 (v0.0.12).
  kube_vip = [
    (image "ghcr.io/kube-vip/kube-vip" "v1.0.4")
    (image "kubevip/kube-vip-cloud-provider" "v0.0.12")
  ];
  # longhorn/longhorn tag v1.12.1 : chart/values.yaml `image.*`.
  longhorn = [
    (image "longhornio/longhorn-manager" "v1.12.1")
    (image "longhornio/longhorn-engine" "v1.12.1")
    (image "longhornio/longhorn-instance-manager" "v1.12.1")
    (image "longhornio/longhorn-share-manager" "v1.12.1")
    (image "longhornio/backing-image-manager" "v1.12.1")
    (image "longhornio/longhorn-ui" "v1.12.1")
    (image "longhornio/support-bundle-kit" "v0.0.92")
    (image "longhornio/csi-attacher" "v4.12.0")
    (image "longhornio/csi-provisioner" "v5.3.0")
    (image "longhornio/csi-node-driver-registrar" "v2.17.0")
    (image "longhornio/csi-resizer" "v2.2.1")
    (image "longhornio/csi-snapshotter" "v8.6.0")
    (image "longhornio/livenessprobe" "v2.19.0")
  ];
  # rook/rook tag v1.20.6 : deploy/examples/images.txt (the operator, Ceph, ceph-csi-operator
  # and the CSI driver images; the COSI and object-storage sidecars are not used here).
  rook = [
    (image "docker.io/rook/ceph" "v1.20.6")
    (image "quay.io/ceph/ceph" "v20.2.4")
    (image "quay.io/cephcsi/ceph-csi-operator" "v1.0.4")
    (image "quay.io/cephcsi/cephcsi" "v3.17.0")
    (image "quay.io/csiaddons/k8s-sidecar" "v0.14.0")
    (image "registry.k8s.io/sig-storage/csi-attacher" "v4.12.0")
    (image "registry.k8s.io/sig-storage/csi-node-driver-registrar" "v2.17.0")
    (image "registry.k8s.io/sig-storage/csi-provisioner" "v6.2.0")
    (image "registry.k8s.io/sig-storage/csi-resizer" "v2.1.0")
    (image "registry.k8s.io/sig-storage/csi-snapshotter" "v8.5.0")
  ];
  # k8s-gateway chart 2.4.0 values.yaml `image`; dex chart 0.24.0 (appVersion 2.44.0);
  # oauth2-proxy chart 10.7.0 (appVersion 7.15.3); cert-manager v1.21.1 (imageRegistry quay.io,
  # imageNamespace jetstack; startupapicheck runs as the chart's post-install hook).
  dns_auth = [
    (image "quay.io/oriedge/k8s_gateway" "v0.4.0")
    (image "ghcr.io/dexidp/dex" "v2.44.0")
    (image "quay.io/oauth2-proxy/oauth2-proxy" "v7.15.3")
    (image "quay.io/jetstack/cert-manager-controller" "v1.21.1")
    (image "quay.io/jetstack/cert-manager-webhook" "v1.21.1")
    (image "quay.io/jetstack/cert-manager-cainjector" "v1.21.1")
    (image "quay.io/jetstack/cert-manager-startupapicheck" "v1.21.1")
  ];
}
