# mkCluster: cluster.toml -> NixOS systems and images.
#
#   kit.mkCluster ./examples/rack
#   kit.mkCluster { spec = ./examples/rack; system = "x86_64-linux"; modules = [ ./site.nix ]; }
#
# returns
#   nodes.<name>        = { system; images = { iso; netboot; raw; qcow2; update; }; }  one per node
#   generic             = { images = { ... }; }   role decided at boot (embed / cmdline / MAC)
#   nixosConfigurations = { "<cluster>-<node>" = <installed system>; "<cluster>" = <generic>; }
#
# Per-node images only name their node in /etc/kateskit/image.json; secrets never enter the
# Nix store: `kateskit image customize` stamps them into the embed area afterwards.
{ nixpkgs, self }:
let
  inherit (nixpkgs) lib;

  render = import ./render.nix;

  variants = {
    iso = { module = ../images/iso.nix; out = c: c.system.build.isoImage; };
    netboot = { module = ../images/netboot.nix; out = c: c.system.build.kateskitNetboot; };
    raw = { module = ../images/raw.nix; out = c: c.system.build.image; };
    qcow2 = { module = ../images/raw.nix; out = c: c.system.build.kateskitQcow2; };
    # The release directory of the raw image's version (kateskit_<V>.efi, .store, SHA256SUMS).
    update = { module = ../images/raw.nix; out = c: c.system.build.kateskitUpdate; };
  };

  mkSystem = { system, spec, node, variant, modules }:
    lib.nixosSystem {
      inherit system;
      modules = [
        self.nixosModules.kateskit
        variants.${variant}.module
        {
          kateskit.enable = true;
          kateskit.cluster.specFile = spec;
          kateskit.node = node;
        }
      ] ++ modules;
    };

  # The raw image of the same node, which `kateskit install` writes to disk: the live ISO
  # carries it (linked at /etc/kateskit/install.img); the netboot system does not (its ramdisk
  # would grow by the whole image), its artifacts directory holds it as install.img and the
  # node downloads it by URL.
  imagesFor = args:
    let
      raw = mkSystem (args // { variant = "raw"; });
      rawFile = "${raw.config.system.build.image}/${raw.config.image.filePath}";
      live = variant: extra: mkSystem (args // {
        inherit variant;
        modules = args.modules ++ [ extra ];
      });
      systems = {
        inherit raw;
        iso = live "iso" { kateskit.install.image = rawFile; };
        netboot = live "netboot" { kateskit.netboot.installImage = rawFile; };
      };
    in lib.mapAttrs (variant: v: v.out systems.${if builtins.elem variant [ "qcow2" "update" ] then "raw" else variant}.config) variants;

  mkCluster = arg:
    let
      a = if builtins.isAttrs arg && arg ? spec then arg else { spec = arg; };
      system = a.system or "x86_64-linux";
      modules = a.modules or [ ];
      spec = a.spec;
      cluster = (import ./spec.nix spec).cluster.name;
      nodeNames = builtins.attrNames (render spec);
      perNode = lib.genAttrs nodeNames (node: {
        system = mkSystem { inherit system spec node modules; variant = "raw"; };
        images = imagesFor { inherit system spec node modules; };
      });
      generic = {
        system = mkSystem { inherit system spec modules; node = null; variant = "raw"; };
        images = imagesFor { inherit system spec modules; node = null; };
      };
    in
    {
      nodes = perNode;
      inherit generic;
      nixosConfigurations = { ${cluster} = generic.system; }
        // lib.mapAttrs' (n: v: lib.nameValuePair "${cluster}-${n}" v.system) perNode;
    };
in
{
  inherit mkCluster render;
}
