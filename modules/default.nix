# The KatesKit NixOS module: small mixins, all under `kateskit.*` and all inert until
# `kateskit.enable = true`. Called with the flake's `self` so the package defaults to the
# flake's own build; without it (plain `imports`) it builds nix/package.nix.
{ self ? null }:
{ lib, pkgs, ... }:
{
  imports = [
    ./options.nix
    ./host.nix
    ./agent.nix
    ./k3s.nix
    ./flannel.nix
    ./ceph.nix
    ./bundle.nix
    ./embed.nix
    ./upgrade.nix
    # services.kateskit-netboot: for the machine that boots the rack, not a node.
    ./netboot-server.nix
  ];

  # The flake's build also names the image version: the package version and the commit
  # date, so a later commit orders after an earlier one.
  config = lib.optionalAttrs (self != null) {
    kateskit.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.kateskit;
    kateskit.upgrade.version = lib.mkDefault "${(builtins.fromTOML (builtins.readFile ../Cargo.toml)).package.version}.${self.lastModifiedDate or "0"}";
  };
}
