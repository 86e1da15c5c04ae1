# Raw EFI disk image built with systemd-repart: ESP (systemd-boot + the system as a UKI), the
# 1 MiB embed partition KATESKIT-EMBED (type 3b6c0d5d-de39-40bd-9e6c-08b15a369d15, zero-filled)
# and the root file system, which grows to the disk on first boot. qcow2 is converted from it.
# Partition order follows the attribute names (00-, 10-, 20-), root last so it can grow.
{ config, lib, pkgs, modulesPath, ... }:
let
  efiArch = pkgs.stdenv.hostPlatform.efiArch;
  ukiFile = config.system.boot.loader.ukiFile;
in
{
  imports = [ "${modulesPath}/image/repart.nix" ];

  kateskit.imageVariant = "raw";

  boot.loader.grub.enable = false;
  fileSystems."/" = {
    device = "/dev/disk/by-partlabel/nixos";
    fsType = "ext4";
    autoResize = true;
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-partlabel/ESP";
    fsType = "vfat";
  };
  boot.growPartition = true;
  boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_blk" "virtio_scsi" "nvme" "ahci" "sd_mod" "usb_storage" "xhci_pci" ];

  image.repart = {
    name = "kateskit-${config.kateskit.cluster.normalized.cluster.name or "generic"}${lib.optionalString (config.kateskit.node != null) "-${config.kateskit.node}"}";
    partitions = {
      "00-esp" = {
        contents = {
          "/EFI/BOOT/BOOT${lib.toUpper efiArch}.EFI".source = "${pkgs.systemd}/lib/systemd/boot/efi/systemd-boot${efiArch}.efi";
          "/EFI/Linux/${ukiFile}".source = "${config.system.build.uki}/${ukiFile}";
        };
        repartConfig = {
          Type = "esp";
          Format = "vfat";
          Label = "ESP";
          SizeMinBytes = "256M";
        };
      };
      "10-embed" = {
        repartConfig = {
          Type = "3b6c0d5d-de39-40bd-9e6c-08b15a369d15";
          Label = "KATESKIT-EMBED";
          SizeMinBytes = "1M";
          SizeMaxBytes = "1M";
        };
      };
      "20-root" = {
        storePaths = [ config.system.build.toplevel ];
        repartConfig = {
          Type = "root";
          Format = "ext4";
          Label = "nixos";
          Minimize = "guess";
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
}
