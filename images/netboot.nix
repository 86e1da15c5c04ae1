# Netboot set: the artifacts directory `kateskit netboot serve --artifacts` serves
# (docs/netboot.md, "NixOS"):
#   vmlinuz      the kernel;
#   initrd.img   the netboot ramdisk (stage 1 plus the store squashfs); it holds no raw image:
#                a netbooted node installs from install.img by URL and SHA-256, which serve puts
#                on the kernel command line (kateskit.install.image_url / image_sha256);
#   install.img  the raw image `kateskit install` writes, when lib.mkCluster provides one;
#   SHA256SUMS   `sha256sum` lines of the files above;
#   cmdline      the kernel arguments the initrd needs (init=<toplevel>/init and the image's
#                boot.kernelParams), also the output's `kargs` attribute for the NixOS module;
#   embed.cpio, netboot.ipxe  for netboot without serve: a pristine embed slot to replace per
#                node (`kateskit image initrd`) and a script loading both initrds. serve hands
#                only initrd.img; its nodes fetch their config over pinned HTTPS instead.
# The files are copies, not links: serve refuses a symlink leading out of its directory.
{ config, lib, pkgs, modulesPath, ... }:
let
  build = config.system.build;
  blank = pkgs.callPackage ./embed-blank.nix { size = 262144; };
  kernelFile = config.system.boot.loader.kernelFile;
  installImage = config.kateskit.netboot.installImage;
  kargs = [ "init=${build.toplevel}/init" ] ++ config.boot.kernelParams;
  files = [ "vmlinuz" "initrd.img" ] ++ lib.optional (installImage != null) "install.img";

  ipxe = pkgs.writeTextDir "netboot.ipxe" ''
    #!ipxe
    # Kernel arguments after ''${cmdline} come from the iPXE environment (e.g. kateskit.* keys).
    kernel vmlinuz initrd=initrd.img initrd=embed.cpio ${toString kargs} ''${cmdline}
    initrd initrd.img
    initrd embed.cpio
    boot
  '';
in
{
  imports = [
    "${modulesPath}/installer/netboot/netboot.nix"
    ../installer
  ];

  options.kateskit.netboot.installImage = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = ''
      Raw disk image copied into the netboot set as install.img (not into the system: the
      ramdisk stays small). `lib.mkCluster` sets it to the same node's raw image.
    '';
  };

  config = {
    kateskit.imageVariant = "netboot";

    system.build.kateskitNetboot = pkgs.runCommand "kateskit-netboot" { passthru = { inherit kargs; }; } ''
      mkdir -p $out
      cd $out
      cp --reflink=auto ${build.kernel}/${kernelFile} vmlinuz
      cp --reflink=auto ${build.netbootRamdisk}/initrd initrd.img
      ${lib.optionalString (installImage != null) "cp --reflink=auto ${installImage} install.img"}
      sha256sum ${toString files} > SHA256SUMS
      echo ${lib.escapeShellArg (toString kargs)} > cmdline
      cp ${blank.cpio} embed.cpio
      cp ${ipxe}/netboot.ipxe netboot.ipxe
    '';
  };
}
