# Live environment of the ISO and netboot images. With `kateskit.install.device=<disk>` on the
# kernel command line it installs unattended (`kateskit install`) and reboots into the
# installed system; the agent does not configure the live system in that case. Without it,
# the console shows a banner saying what to type, and the machine runs as a live node.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  exe = lib.getExe cfg.package;

  # Reads the device from the kernel command line (KATESKIT_CMDLINE overrides its path, as for
  # the agent), so the unit needs no shell-quoting of its own.
  autoInstall = pkgs.writeShellScript "kateskit-auto-install" ''
    set -eu
    dev=""
    for arg in $(cat "''${KATESKIT_CMDLINE:-/proc/cmdline}"); do
      case "$arg" in
        kateskit.install.device=*) dev="''${arg#kateskit.install.device=}" ;;
      esac
    done
    if [ -z "$dev" ]; then
      echo "kateskit: kateskit.install.device= is empty; boot with kateskit.install.device=/dev/disk/by-id/<disk>" >&2
      exit 1
    fi
    # The device on the kernel command line is the operator's consent; the disk module still
    # refuses a disk that is mounted, in use, the boot medium or too small.
    ${exe} install --device "$dev" --yes
  '';
in
{
  options.kateskit.install.rebootAfter = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "Reboot into the installed system after an unattended install succeeded.";
  };

  options.kateskit.install.image = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = ''
      Raw disk image (GPT with a KATESKIT-EMBED partition) that `kateskit install` writes;
      linked at /etc/kateskit/install.img. `lib.mkCluster` sets it to the same node's raw image.
    '';
  };

  config = lib.mkIf cfg.enable {
    environment.etc."kateskit/install.img" = lib.mkIf (cfg.install.image != null) {
      source = cfg.install.image;
    };
    assertions = [{
      assertion = cfg.install.image != null || !config.systemd.services.kateskit-install.enable;
      message = "kateskit.install.image is unset, so `kateskit install` has nothing to write; set it to a raw image built from images/raw.nix (lib.mkCluster does), or disable systemd.services.kateskit-install.";
    }];
    services.getty.autologinUser = lib.mkDefault "root";
    services.getty.helpLine = ''

      KatesKit live system. This machine is not installed.
        Install to a disk:   kateskit install --device /dev/disk/by-id/<disk>
                             (writes the raw image with this node's config; asks first)
        List disks:          lsblk -o NAME,SIZE,MODEL,SERIAL,TYPE
        Agent status:        journalctl -u kateskit-agent
      Unattended install: boot with kateskit.install.device=/dev/disk/by-id/<disk>
    '';

    systemd.services.kateskit-install = {
      description = "KatesKit unattended install (kateskit.install.device= on the kernel command line)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "local-fs.target" "network-online.target" ];
      before = [ "kateskit-agent.service" ];
      unitConfig.ConditionKernelCommandLine = "kateskit.install.device";
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${autoInstall}";
        ExecStartPost = lib.mkIf cfg.install.rebootAfter "${pkgs.systemd}/bin/systemctl --no-block reboot";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
      };
    };

    # A machine being installed must not also join the cluster as a live node.
    systemd.services.kateskit-agent.unitConfig.ConditionKernelCommandLine = "!kateskit.install.device";
  };
}
