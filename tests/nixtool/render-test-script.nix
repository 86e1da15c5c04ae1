# Renders one NixOS VM test's `testScript` without nixpkgs (tests/nix_test_scripts.rs): the
# real nix/tests/lib.nix and test file, with stand-ins only for what the script text
# interpolates (store paths as fixed strings, node names from the test itself). The image gate
# (`needsImages`) is bypassed so the bundle tests' scripts render too.
{ file, libFile, pkgsPath }:
let
  store = name: "/nix/store/00000000000000000000000000000000-${name}";
  pkgs = {
    path = pkgsPath;
    lib.concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
    stdenv.hostPlatform.system = "x86_64-linux";
    runCommand = name: env: script: store name;
    qemu_test = store "qemu-test";
    python3 = store "python3";
    linkFarm = name: entries: store name;
    OVMF = { firmware = store "OVMF-fd/FV/OVMF_CODE.fd"; variables = store "OVMF-fd/FV/OVMF_VARS.fd"; };
    testers.runNixOSTest = test: test;
  };
  self.packages.x86_64-linux.kateskit = store "kateskit";
  # Images per node of the spec, as nix/lib.nix's mkCluster names them.
  kit.mkCluster = { spec, ... }: {
    nodes = builtins.listToAttrs (map
      (n: { inherit (n) name; value.images = { iso = store "iso-${n.name}"; raw = store "raw-${n.name}"; update = store "update-${n.name}"; }; })
      (builtins.fromTOML (builtins.readFile (spec + "/cluster.toml"))).nodes);
    generic.images = { iso = store "iso-generic"; raw = store "raw-generic"; netboot = store "netboot-generic"; update = store "update-generic"; };
  };
  real = import libFile { inherit pkgs; kateskit = store "kateskit"; };
  t = real // { needsImages = name: entries: mk: mk (map (e: store "image-${baseNameOf e.imageName}") entries); };
  test = import file { inherit pkgs self kit t; };
  nodes = test.nodes or { };
  script = if builtins.isFunction test.testScript then test.testScript { inherit nodes; } else test.testScript;
in
{
  inherit script;
  nodes = builtins.attrNames nodes;
  skipLint = test.skipLint or false;
  skipTypeCheck = test.skipTypeCheck or false;
}
