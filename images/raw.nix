# Raw EFI disk image with two store slots, built with systemd-repart (docs/upgrades.md, "Disk
# layout and update artifacts"). GPT, in this order:
#   ESP             systemd-boot, loader.conf (`default kateskit_*`), the UKI kateskit_<V>.efi;
#   KATESKIT-EMBED  1 MiB, type 3b6c0d5d-..., zeros: `kateskit image customize` stamps it;
#   kateskit_<V>    store slot A: erofs of the system closure, mounted read-only at /nix/store;
#   _empty          store slot B: same size, never written until the first upgrade;
#   kateskit-data   ext4 root, persistent (k3s, etcd, Rook, agent state), grows on first boot.
# Partition order follows the attribute names. Slot A is also split out as its own file
# (<image>.store.raw), which the update artifacts (system.build.kateskitUpdate) ship.
{ config, lib, pkgs, modulesPath, ... }:
let
  slots = import ../nix/slots.nix;
  up = config.kateskit.upgrade;
  efiArch = pkgs.stdenv.hostPlatform.efiArch;
  ukiFile = config.system.boot.loader.ukiFile;
  initrdModules = lib.concatLists (lib.attrValues (import ./initrd-storage.nix));
in
{
  imports = [ "${modulesPath}/image/repart.nix" ];

  kateskit.imageVariant = "raw";
  kateskit.upgrade.enable = lib.mkDefault true;

  # The UKI and os-release carry the version (IMAGE_ID/IMAGE_VERSION); systemd-sysupdate's
  # ProtectVersion=%A and `kateskit node status` read it back from the running system.
  system.image.id = "kateskit";
  system.image.version = up.version;

  boot.loader.grub.enable = false;
  fileSystems."/" = {
    device = "/dev/disk/by-partlabel/${slots.dataLabel}";
    fsType = "ext4";
    autoResize = true;
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-partlabel/${slots.espLabel}";
    fsType = "vfat";
  };
  # The store of this version only: a UKI never boots another version's closure. Read-only,
  # so no Nix database is registered (nothing on the node may add to or collect this store).
  fileSystems."/nix/store" = {
    device = "/dev/disk/by-partlabel/${slots.storeLabel up.version}";
    fsType = "erofs";
    options = [ "ro" ];
  };
  # growpart before the root mount's resize: the data partition is last, so it can take the disk.
  boot.growPartition = true;
  boot.initrd.availableKernelModules = initrdModules;

  image.repart = {
    name = "kateskit-${config.kateskit.cluster.normalized.cluster.name or "generic"}${lib.optionalString (config.kateskit.node != null) "-${config.kateskit.node}"}";
    split = true;
    partitions = {
      "00-esp" = {
        contents = {
          "/EFI/BOOT/BOOT${lib.toUpper efiArch}.EFI".source = "${pkgs.systemd}/lib/systemd/boot/efi/systemd-boot${efiArch}.efi";
          "/loader/loader.conf".source = pkgs.writeText "loader.conf" (slots.loaderConf up.loaderTimeout);
          "/EFI/Linux/${slots.ukiName up.version}".source = "${config.system.build.uki}/${ukiFile}";
        };
        repartConfig = {
          Type = "esp";
          Format = "vfat";
          Label = slots.espLabel;
          # Two UKIs and the one being staged under its temporary name.
          SizeMinBytes = up.espSize;
          SizeMaxBytes = up.espSize;
          SplitName = "-";
        };
      };
      "10-embed" = {
        repartConfig = {
          Type = slots.embedType;
          Label = slots.embedLabel;
          SizeMinBytes = "1M";
          SizeMaxBytes = "1M";
        };
      };
      "20-store-a" = {
        storePaths = [ config.system.build.toplevel ];
        stripNixStorePrefix = true;
        repartConfig = {
          Type = slots.storeType;
          Format = "erofs";
          Label = slots.storeLabel up.version;
          SizeMinBytes = up.slotSize;
          SizeMaxBytes = up.slotSize;
          SplitName = "store";
        };
      };
      "30-store-b" = {
        repartConfig = {
          Type = slots.storeType;
          Label = slots.emptyLabel;
          SizeMinBytes = up.slotSize;
          SizeMaxBytes = up.slotSize;
          SplitName = "-";
        };
      };
      "40-data" = {
        repartConfig = {
          Type = "root";
          Format = "ext4";
          Label = slots.dataLabel;
          SizeMinBytes = "256M";
          SplitName = "-";
        };
      };
    };
  };

  # qemu-img from qemu_test (host CPU only, what the NixOS test driver uses and the cache
  # holds), not all of pkgs.qemu; `qemu-utils` is an alias of qemu in newer nixpkgs.
  system.build.kateskitQcow2 = pkgs.runCommand "${config.image.baseName}-qcow2" { nativeBuildInputs = [ pkgs.qemu_test ]; } ''
    mkdir -p $out
    qemu-img convert -f raw -O qcow2 ${config.system.build.image}/${config.image.filePath} $out/${config.image.baseName}.qcow2
  '';

  # The release of this version for `kateskit node stage` and systemd-sysupdate: the UKI, the
  # store slot's file system image and SHA256SUMS over both (docs/upgrades.md).
  system.build.kateskitUpdate = pkgs.callPackage ../nix/update.nix {
    inherit (up) version;
    image = config.system.build.image;
    uki = "${config.system.build.uki}/${ukiFile}";
  };
}
