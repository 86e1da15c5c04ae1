# Storage drivers in the raw image's initrd, by class: the installed system finds its root
# partition only through a driver that is in the initrd. NixOS's default initrd set covers
# AHCI, NVMe and USB controllers; servers boot from SAS HBAs, hardware RAID and hypervisor
# disks as well. An explicit list rather than nixpkgs' profiles/all-hardware.nix: that profile
# also pulls in every redistributable firmware blob and dozens of legacy PATA drivers, and its
# own SCSI list is marked incomplete (no mpt3sas, mpi3mr or smartpqi). Names are the kernel's
# module file names; tests/nix_initrd.rs checks each against Debian's generic 6.1 kernel.
{
  sata = [ "ahci" "ata_piix" "sd_mod" ];
  nvme = [ "nvme" ];
  # LSI/Broadcom SAS2/3 (mpt3sas), SAS4 (mpi3mr), older Fusion-MPT SAS, Intel C600 SCU,
  # PMC-Sierra and Marvell SAS.
  sas-hba = [ "mpt3sas" "mpi3mr" "mptsas" "isci" "pm80xx" "mvsas" ];
  # Dell PERC / LSI MegaRAID, HPE Smart Array (hpsa, and smartpqi from Gen10 on), Adaptec,
  # 3ware and Areca.
  hardware-raid = [ "megaraid_sas" "hpsa" "smartpqi" "aacraid" "3w-9xxx" "3w-sas" "arcmsr" ];
  # VMware's paravirtual SCSI, and the LSI Logic adapters it emulates.
  vmware = [ "vmw_pvscsi" "mptspi" ];
  hyperv = [ "hv_vmbus" "hv_storvsc" ];
  virtio = [ "virtio_pci" "virtio_blk" "virtio_scsi" ];
  usb = [ "xhci_pci" "ehci_pci" "usb_storage" "uas" ];
}
