# Helpers shared by the VM tests: a cluster directory with secrets made at build time (test
# only: these secrets end up in the Nix store), its stamped NodeConfigs, and the image CLI calls.
# The `kateskit image ...` invocations live here only, so a change of those flags touches one
# file.
{ pkgs, kateskit }:
let
  inherit (pkgs) lib runCommand;
  qemu-common = import "${pkgs.path}/nixos/lib/qemu-common.nix" { inherit (pkgs) lib stdenv; };
in
rec {
  qemu = qemu-common.qemuBinary pkgs.qemu_test;

  # cluster.toml + secrets/ (CA set, tokens) made by `kateskit cluster init`.
  clusterDir = name: spec: runCommand "kateskit-test-${name}" { nativeBuildInputs = [ kateskit ]; } ''
    mkdir -p $out
    cp ${spec}/cluster.toml $out/cluster.toml
    kateskit cluster init $out --name ${name}
  '';

  # The full NodeConfig (with secrets) of one node.
  nodeConfig = dir: node: runCommand "nodeconfig-${node}.json" { nativeBuildInputs = [ kateskit ]; } ''
    kateskit cluster render ${dir} --node ${node} --output $out
  '';

  # Netboot embed cpio for one node, unpacked to the bare embed.img the agent reads from
  # /run/kateskit/embed.img. It never crosses a network (the VM gets the file directly), so a
  # server's carrier is allowed.
  embedImg = dir: node: runCommand "embed-${node}.img" { nativeBuildInputs = [ kateskit pkgs.cpio ]; } ''
    kateskit image initrd --allow-server-secrets --node-config ${nodeConfig dir node} --output embed.cpio
    mkdir x && (cd x && cpio --quiet -id < ../embed.cpio)
    cp x/kateskit/embed.img $out
  '';

  # A writable copy of an image with one node's config stamped into its embed area.
  stamp = image: dir: node: runCommand "stamped-${node}" { nativeBuildInputs = [ kateskit ]; } ''
    mkdir -p $out
    cp ${image} $out/image
    chmod u+w $out/image
    kateskit image customize --node-config ${nodeConfig dir node} --in-place $out/image
  '';

  # Test-only module: puts an embed.img where the netboot initrd would have put it.
  withEmbed = img: {
    systemd.services.test-embed = {
      wantedBy = [ "kateskit-network.service" "kateskit-agent.service" ];
      before = [ "kateskit-network.service" "kateskit-agent.service" ];
      serviceConfig.Type = "oneshot";
      # As modules/embed.nix does in the initrd: the run directory is private from the start.
      script = "install -d -m 0700 /run/kateskit && install -m 0600 ${img} /run/kateskit/embed.img";
    };
  };

  # A Python string literal holding `s` (JSON's string escapes are valid Python), so a shell
  # command with both kinds of quote can be spliced into a testScript as it is.
  py = s: builtins.toJSON s;

  # Python string literal: the shell check that the node reports Ready through the k3s API
  # (its jsonpath holds double quotes: splice it bare, never inside quotes).
  readyCheck = node: py ''k3s kubectl get node ${node} -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True'';

  # Image archives of `entries` (bundle-images.nix), or null while any digest is not filled in.
  pulled = entries:
    if builtins.any (e: e.imageDigest == "" || e.hash == "") entries then null
    else map (e: pkgs.dockerTools.pullImage { inherit (e) imageName finalImageTag imageDigest hash; }) entries;

  # `mkTest images`, or while those images are not filled in, a check that fails at once and
  # names them: the VMs reach no registry, so the pods could never start.
  needsImages = name: entries: mkTest:
    let
      images = pulled entries;
      missing = builtins.filter (e: e.imageDigest == "" || e.hash == "") entries;
    in
    if images != null then mkTest images
    else runCommand "kateskit-${name}-needs-images" { } ''
      echo "${name}: the test VMs reach no registry; fill imageDigest and hash in nix/tests/bundle-images.nix for: ${lib.concatMapStringsSep ", " (e: "${e.imageName}:${e.finalImageTag}") missing}" >&2
      exit 1
    '';

  # Python string literal: the shell check that helm-controller's install Job of a chart
  # (named helm-install-<HelmChart name>) completed.
  helmInstalled = chart: py ''k3s kubectl -n kube-system wait --for=condition=complete job/helm-install-${chart} --timeout=10s'';
}
