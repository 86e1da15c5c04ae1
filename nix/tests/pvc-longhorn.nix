# examples/homelab with Longhorn (fixtures/homelab-longhorn): Longhorn's chart comes up from the
# verified archive the image ships, its StorageClass is the default, and a PVC that names no
# class binds. Needs Longhorn's images (bundle-images.nix `longhorn`, empty in the repository:
# the check fails at once naming them until they are filled in); k3s's own images come from its
# airgap archive. With one node and Longhorn's default of three replicas the volume is created
# degraded, which binding does not depend on and this test does not check.
{ pkgs, self, kit, t }:
let
  spec = ./fixtures/homelab-longhorn;
  dir = t.clusterDir "homelab" spec;
  images = (import ./bundle-images.nix).longhorn;
in
t.needsImages "vm-pvc-longhorn" images (pulled: pkgs.testers.runNixOSTest {
  name = "kateskit-pvc-longhorn";
  nodes.box = { ... }: {
    imports = [ self.nixosModules.kateskit (t.withEmbed (t.embedImg dir "box")) ];
    kateskit.enable = true;
    kateskit.cluster.specFile = spec;
    kateskit.node = "box";
    kateskit.bundle.airgapImages = true;
    kateskit.bundle.chartArchives = true;
    kateskit.bundle.images = pulled;
    virtualisation.memorySize = 4096;
    virtualisation.diskSize = 12288;
    virtualisation.cores = 2;
  };
  globalTimeout = 3600;
  testScript = ''
    box.start()
    box.wait_for_unit("kateskit-agent.service", timeout=600)
    box.wait_until_succeeds(${t.readyCheck "box"}, timeout=900)
    box.wait_until_succeeds(${t.helmInstalled "longhorn"}, timeout=1200)
    # The chart was installed from the static directory, not a repository.
    box.succeed("grep -q 'static/charts/longhorn.tgz' /var/lib/rancher/k3s/server/manifests/kateskit-longhorn.yaml")
    box.wait_until_succeeds(
        "test \"$(k3s kubectl get storageclass longhorn -o jsonpath='{.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}')\" = true",
        timeout=1200,
    )
    # k3s's local-path is disabled: Longhorn is the only default class.
    box.fail("k3s kubectl get storageclass local-path")
    box.succeed(
        "cat <<'YAML' | k3s kubectl apply -f -\n"
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: probe, namespace: default }\n"
        "spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }\n"
        "YAML"
    )
    box.wait_until_succeeds(
        "test \"$(k3s kubectl -n default get pvc probe -o jsonpath='{.status.phase}')\" = Bound",
        timeout=900,
    )
    assert box.succeed("k3s kubectl -n default get pvc probe -o jsonpath='{.spec.storageClassName}'").strip() == "longhorn"
  '';
})
