# Live / installer ISO. The embed area is the file /kateskit/embed.img (256 KiB of zeros) in
# the ISO9660 tree; `kateskit image customize` rewrites it in place and the agent reads it
# through the ISO's /iso mount. Boots to the live environment in installer/.
{ config, lib, pkgs, modulesPath, ... }:
let
  blank = pkgs.callPackage ./embed-blank.nix { size = 262144; };
in
{
  imports = [
    "${modulesPath}/installer/cd-dvd/iso-image.nix"
    ../installer
  ];

  kateskit.imageVariant = "iso";

  isoImage = {
    makeEfiBootable = true;
    makeUsbBootable = true;
    volumeID = lib.mkDefault "KATESKIT";
    appendToMenuLabel = " KatesKit";
    contents = [{ source = blank.file; target = "/kateskit/embed.img"; }];
  };

  # iso-image.nix defines image.baseName at normal priority (100), so mkDefault would lose and
  # the ISO would be nixos-<release>-<system>.iso. 90 beats it and still yields to a site's
  # mkForce (docs/nixos-options.md, "Priorities").
  image.baseName = lib.mkOverride 90 "kateskit-${config.kateskit.cluster.normalized.cluster.name or "generic"}${lib.optionalString (config.kateskit.node != null) "-${config.kateskit.node}"}";
}
