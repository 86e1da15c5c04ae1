# Core options: where the cluster spec comes from, which node (if any) an image is for, and the
# public NodeConfigs derived from it with nix/render.nix (the same function as the Rust
# renderer, held equal by tests/nix_render.rs).
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  inherit (lib) mkOption mkEnableOption types;
in
{
  options.kateskit = {
    enable = mkEnableOption "the KatesKit appliance: first-boot agent, k3s, flannel, storage host setup";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The kateskit package (agent, installer and CLI).";
    };

    cluster.specFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = lib.literalExpression "./examples/rack";
      description = ''
        cluster.toml, or a directory holding one. Read with `builtins.fromTOML`; the same file
        `kateskit cluster check` validates. Leave null to set {option}`kateskit.cluster.spec`
        directly.
      '';
    };

    cluster.spec = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = ''
        The cluster spec as an attribute set with the cluster.toml layout (`cluster`, `network`,
        `bundle`, `nodes`). Filled from {option}`kateskit.cluster.specFile` when that is set.
      '';
    };

    node = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "s1";
      description = ''
        Build an image for this node of the spec. null builds a generic image: the agent picks
        the node at boot from the embed area, the kernel command line or a MAC match.
      '';
    };

    imageVariant = mkOption {
      type = types.enum [ "iso" "netboot" "raw" "none" ];
      default = "none";
      description = "Which image this system is built as; set by images/*.nix and written to image.json.";
    };

    cluster.normalized = mkOption {
      type = types.attrsOf types.anything;
      readOnly = true;
      internal = true;
      description = "The cluster spec with every default filled in (nix/spec.nix); the other modules read this.";
    };

    nodeConfigs = mkOption {
      type = types.attrsOf types.anything;
      readOnly = true;
      description = "Public NodeConfig of every node (nix/render.nix output), keyed by node name.";
    };
  };

  config = lib.mkIf cfg.enable {
    kateskit.cluster.spec = lib.mkIf (cfg.cluster.specFile != null)
      (import ../nix/spec.nix cfg.cluster.specFile);

    kateskit.cluster.normalized = if cfg.cluster.spec == { } then { } else import ../nix/spec.nix cfg.cluster.spec;
    kateskit.nodeConfigs = if cfg.cluster.spec == { } then { } else import ../nix/render.nix cfg.cluster.spec;

    assertions = [
      {
        assertion = cfg.cluster.spec != { };
        message = "kateskit: no cluster spec. Set kateskit.cluster.specFile = ./cluster.toml (or a directory holding one), or set kateskit.cluster.spec directly.";
      }
      {
        assertion = cfg.node == null || cfg.nodeConfigs ? ${cfg.node};
        message = "kateskit.node = \"${toString cfg.node}\" is not a node of the cluster spec; known nodes: ${lib.concatStringsSep ", " (builtins.attrNames cfg.nodeConfigs)}.";
      }
    ];
  };
}
