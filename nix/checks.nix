# `nix flake check`: the kateskit package (its unit tests run in the build), every image of the
# homelab example evaluating and building, and the NixOS VM tests.
{ pkgs, self, kit }:
let
  system = pkgs.stdenv.hostPlatform.system;
in
{
  kateskit = self.packages.${system}.kateskit;
  rack-configs = pkgs.linkFarm "rack-toplevels" (pkgs.lib.mapAttrsToList
    (name: node: { inherit name; path = node.system.config.system.build.toplevel; })
    (kit.mkCluster { spec = ../examples/rack; inherit system; }).nodes);
} // import ./tests { inherit pkgs self kit; }
