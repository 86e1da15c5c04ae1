# Storage host preparation. Rook-Ceph: the rbd module, LVM tools and udev (Rook refuses to work
# without udev and needs lvm2 for encrypted or metadata-device OSDs); the declared OSD disks
# themselves reach the agent through the NodeConfig, which prepares them (src/disk/).
# Longhorn: open-iscsi with an initiator name, the NFSv4 client for RWX volumes, and host tools
# where Longhorn looks for them.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  driver = cfg.storage.driver;

  # Longhorn runs host tools through `nsenter` into the host mount namespace with a
  # conventional PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin), which on
  # NixOS holds none of them ("Longhorn does not launch on systems with a non-standard path",
  # longhorn/longhorn#2166). Linking them into /usr/local/bin fixes that without a cluster-side
  # policy that rewrites pod PATHs.
  longhornTools = [ "iscsiadm" "mount" "umount" "blkid" "lsblk" "findmnt" "nsenter" "cryptsetup"
    "dmsetup" "mkfs.ext4" "mkfs.xfs" "fsck" "bash" "grep" "awk" "curl" "sh" ];
in
{
  options.kateskit.storage = {
    driver = lib.mkOption {
      type = lib.types.enum [ "local-path" "longhorn" "rook-ceph" ];
      default = cfg.cluster.normalized.bundle.storage or "local-path";
      defaultText = lib.literalExpression "bundle.storage from the cluster spec";
      description = "Storage driver the host is prepared for.";
    };
    longhorn.initiatorName = lib.mkOption {
      type = lib.types.str;
      default = "iqn.2024-01.dev.kateskit:${if cfg.node != null then cfg.node else "node"}";
      defaultText = lib.literalExpression ''"iqn.2024-01.dev.kateskit:<node or \"node\">"'';
      description = ''
        iSCSI initiator name (/etc/iscsi/initiatorname.iscsi). Longhorn's v1 engine only logs
        in to targets on the same node, so a shared name on a generic image does no harm.
      '';
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    (lib.mkIf (driver == "rook-ceph") {
      boot.kernelModules = [ "rbd" ];
      environment.systemPackages = [ pkgs.lvm2 ];
      # Rook's CSI plugins mount the host's /lib/modules to load rbd and ceph themselves; on
      # NixOS the modules live under /run/current-system/kernel-modules/lib/modules.
      systemd.tmpfiles.rules = [ "L+ /lib/modules - - - - /run/current-system/kernel-modules/lib/modules" ];
      assertions = [{
        assertion = config.services.lvm.enable;
        message = "kateskit: bundle.storage = \"rook-ceph\" needs LVM and its udev rules; do not set services.lvm.enable = false.";
      }];
    })
    (lib.mkIf (driver == "longhorn") {
      services.openiscsi = {
        enable = true;
        name = cfg.storage.longhorn.initiatorName;
      };
      boot.supportedFilesystems = [ "nfs" ];
      services.rpcbind.enable = true;
      environment.systemPackages = with pkgs; [ nfs-utils openiscsi cryptsetup lvm2 curl gawk xfsprogs ];
      systemd.tmpfiles.rules = map (t: "L+ /usr/local/bin/${t} - - - - /run/current-system/sw/bin/${t}") longhornTools;
    })
  ]);
}
