# Stand-in for nixpkgs' nixos/lib/qemu-common.nix in the test-script render
# (tests/nix_test_scripts.rs): only `qemuBinary`, which nix/tests/lib.nix calls.
{ lib, stdenv }:
{
  qemuBinary = qemu: "${qemu}/bin/qemu-kvm -cpu max";
}
