# NixOS VM tests, run by `nix flake check` on x86_64-linux with KVM (TCG works, slowly).
# Nothing here can run without Nix and the binary cache; tests/nix_*.rs covers what can.
{ pkgs, self, kit }:
let
  kateskit = self.packages.${pkgs.stdenv.hostPlatform.system}.kateskit;
  t = import ./lib.nix { inherit pkgs kateskit; };
  args = { inherit pkgs self kit t; };
in
{
  vm-iso-single-node = import ./iso-single-node.nix args;
  vm-join-server-agent = import ./join.nix args;
  vm-osd-disk = import ./osd-disk.nix args;
  vm-raw-idempotent = import ./raw-idempotent.nix args;
  vm-reprovision-first-server = import ./reprovision.nix args;
  # The bundle on real k3s. Each needs its charts' images (bundle-images.nix) and fails at once
  # naming them while they are not filled in; vm-pvc-rook also needs Rook's chart digest.
  vm-kube-vip = import ./kube-vip.nix args;
  vm-pvc-longhorn = import ./pvc-longhorn.nix args;
  vm-pvc-rook = import ./pvc-rook.nix args;
  vm-dns-auth = import ./dns-auth.nix args;
}
