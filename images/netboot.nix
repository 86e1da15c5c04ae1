# Netboot set: bzImage, initrd (holding the store squashfs), a pristine embed cpio and an iPXE
# script that loads both initrds. `kateskit netboot serve` hands out a per-node embed cpio in
# place of the pristine one; the initrd copies it to /run (modules/embed.nix).
{ config, lib, pkgs, modulesPath, ... }:
let
  build = config.system.build;
  blank = pkgs.callPackage ./embed-blank.nix { size = 262144; };
  kernelFile = config.system.boot.loader.kernelFile;

  ipxe = pkgs.writeTextDir "netboot.ipxe" ''
    #!ipxe
    # Kernel arguments after ''${cmdline} come from the iPXE environment (e.g. kateskit.* keys).
    kernel ${kernelFile} init=${build.toplevel}/init initrd=initrd initrd=embed.cpio ${toString config.boot.kernelParams} ''${cmdline}
    initrd initrd
    initrd embed.cpio
    boot
  '';
in
{
  imports = [
    "${modulesPath}/installer/netboot/netboot.nix"
    ../installer
  ];

  kateskit.imageVariant = "netboot";

  system.build.kateskitNetboot = pkgs.runCommand "kateskit-netboot" { } ''
    mkdir -p $out
    ln -s ${build.kernel}/${kernelFile} $out/${kernelFile}
    ln -s ${build.netbootRamdisk}/initrd $out/initrd
    cp ${blank.cpio} $out/embed.cpio
    ln -s ${ipxe}/netboot.ipxe $out/netboot.ipxe
  '';
}
