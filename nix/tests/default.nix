# NixOS VM tests, run by `nix flake check` on x86_64-linux. Nothing here can run without Nix
# and the binary cache; tests/nix_*.rs covers what can.
#
# nixpkgs' test derivations require the `kvm` system feature (nixos/lib/testing/run.nix), so
# Nix refuses them on a host without /dev/kvm. The driver's QEMU falls back to TCG on its own
# (`qemu.forceAccel` is off), so each test drops that requirement here through the framework's
# `overrideTestDerivation`: with KVM the VMs use it, without it they run under TCG, several
# times slower (docs/nix.md, "Without KVM"). The image gates (`needsImages`) are plain builds.
{ pkgs, self, kit }:
let
  kateskit = self.packages.${pkgs.stdenv.hostPlatform.system}.kateskit;
  t = import ./lib.nix { inherit pkgs kateskit; };
  args = { inherit pkgs self kit t; };
  withoutKvm = test:
    if test ? overrideTestDerivation then
      test.overrideTestDerivation (prev: {
        requiredSystemFeatures = builtins.filter (f: f != "kvm") (prev.requiredSystemFeatures or [ ]);
      })
    else test;
in
builtins.mapAttrs (name: withoutKvm) {
  vm-iso-single-node = import ./iso-single-node.nix args;
  vm-join-server-agent = import ./join.nix args;
  vm-osd-disk = import ./osd-disk.nix args;
  vm-raw-idempotent = import ./raw-idempotent.nix args;
  vm-reprovision-first-server = import ./reprovision.nix args;
  # A -> B committed, then a C whose gate fails rolls back to B (OVMF + systemd-boot counting).
  vm-upgrade = import ./upgrade.nix args;
  # services.kateskit-netboot boots a diskless client by PXE (full DHCP on the test VLAN).
  vm-netboot = import ./netboot.nix args;
  # The bundle on real k3s. Each needs its charts' images (bundle-images.nix) and fails at once
  # naming them while they are not filled in; vm-pvc-rook also needs Rook's chart digest.
  vm-kube-vip = import ./kube-vip.nix args;
  vm-pvc-longhorn = import ./pvc-longhorn.nix args;
  vm-pvc-rook = import ./pvc-rook.nix args;
  vm-dns-auth = import ./dns-auth.nix args;
}
