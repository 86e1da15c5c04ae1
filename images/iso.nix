# Live / installer ISO. The embed area is the file /kateskit/embed.img (256 KiB of zeros) in
# the ISO9660 tree; `kateskit image customize` rewrites it in place and the agent reads it
# through the ISO's /iso mount. Boots to the live environment in installer/.
{ config, lib, pkgs, modulesPath, ... }:
let
  blank = pkgs.callPackage ./embed-blank.nix { size = 262144; };
  # The agent takes a filesystem with one of these labels for a config drive
  # (src/agent/ladder/drive.rs, LABELS); the ISO's own volume must not carry one, or the
  # agent would read its boot medium as the config drive and never look for the real one.
  configDriveLabels = [ "KATESKIT" "CIDATA" "cidata" ];
in
{
  imports = [
    "${modulesPath}/installer/cd-dvd/iso-image.nix"
    ../installer
  ];

  kateskit.imageVariant = "iso";

  assertions = [{
    assertion = !(lib.elem (lib.toUpper config.isoImage.volumeID) (map lib.toUpper configDriveLabels));
    message = "isoImage.volumeID = \"${config.isoImage.volumeID}\" is a config-drive label (${lib.concatStringsSep ", " configDriveLabels}): the agent would read the boot medium as its config drive; choose another label, e.g. KATESKIT_LIVE.";
  }];

  isoImage = {
    makeEfiBootable = true;
    makeUsbBootable = true;
    # ISO9660 volume identifiers are d-characters (A-Z, 0-9, `_`), at most 32. NixOS mounts
    # /iso from /dev/disk/by-label/<volumeID>, so the agent finds its embed area whatever
    # the label is.
    volumeID = lib.mkDefault "KATESKIT_LIVE";
    appendToMenuLabel = " KatesKit";
    contents = [{ source = blank.file; target = "/kateskit/embed.img"; }];
  };

  # iso-image.nix defines image.baseName at normal priority (100), so mkDefault would lose and
  # the ISO would be nixos-<release>-<system>.iso. 90 beats it and still yields to a site's
  # mkForce (docs/nixos-options.md, "Priorities").
  image.baseName = lib.mkOverride 90 "kateskit-${config.kateskit.cluster.normalized.cluster.name or "generic"}${lib.optionalString (config.kateskit.node != null) "-${config.kateskit.node}"}";
}
