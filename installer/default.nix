# Live environment of the ISO and netboot images. With `kateskit.install.device=<disk>` on the
# kernel command line or stamped into the boot medium (`kateskit image customize --karg`; a
# /dev/disk/by-id/ or by-path link, or `auto` for the node's install_disk;
# `kateskit.install.wipe=<serial>` to overwrite a disk holding data) it installs unattended
# (`kateskit install --unattended --boot-request`) and reboots into the installed system; the
# agent and the join then stay off on the live system, so a failed install is what the console
# shows. Without it, the console shows a banner saying what to type, and the machine runs as a
# live node.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  exe = lib.getExe cfg.package;

  # agetty runs the login program as `login -f root` (services.getty.autologinUser). It logs
  # root in without a password only when kateskit-console-autologin.service found no stamped
  # embed area (the marker); stamped, unreadable or not yet decided, root's password is asked
  # for like any login (fails closed: root has none on these images, so SSH is the way in).
  consoleLogin = pkgs.writeShellScript "kateskit-console-login" ''
    if [ -e /run/kateskit/console-autologin ]; then
      exec ${pkgs.shadow}/bin/login "$@"
    fi
    if [ "''${1:-}" = -f ]; then
      shift
      echo "kateskit: this image is stamped with a node config; console autologin is off, use SSH" >&2
      exec ${pkgs.shadow}/bin/login -- "$@"
    fi
    exec ${pkgs.shadow}/bin/login "$@"
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
    # A netboot system carries no image: `kateskit install` downloads it by the URL and SHA-256
    # that `kateskit netboot serve` puts on the kernel command line (images/netboot.nix).
    assertions = [{
      assertion = cfg.install.image != null || cfg.imageVariant == "netboot" || !config.systemd.services.kateskit-install.enable;
      message = "kateskit.install.image is unset, so `kateskit install` has nothing to write; set it to a raw image built from images/raw.nix (lib.mkCluster does), or disable systemd.services.kateskit-install.";
    }];
    services.getty.autologinUser = lib.mkDefault "root";
    services.getty.loginProgram = consoleLogin;
    # Decides before any getty starts (getty@ and serial-getty@ are ordered after
    # getty-pre.target), from the embed area the agent would read.
    systemd.services.kateskit-console-autologin = {
      description = "KatesKit: console autologin only on an image without a stamped config";
      wantedBy = [ "multi-user.target" ];
      wants = [ "getty-pre.target" ];
      before = [ "getty-pre.target" ];
      after = [ "local-fs.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${exe} agent console-autologin";
      };
    };
    services.getty.helpLine = ''

      KatesKit live system. This machine is not installed.
        Guided install:      kateskit install
                             (asks for disk, role, server, token, hostname, SSH keys)
        Install to a disk:   kateskit install --device /dev/disk/by-id/<disk>
                             (writes the raw image with this node's config; asks first)
        List disks:          lsblk -o NAME,SIZE,MODEL,SERIAL,TYPE
        Agent status:        journalctl -u kateskit-agent
      Unattended install: boot with kateskit.install.device=/dev/disk/by-id/<disk>
                          (a disk holding data also needs kateskit.install.wipe=<serial>)
    '';

    # Whether an install is requested is the binary's answer (kernel command line and the
    # boot medium's stamped kernel arguments), not ConditionKernelCommandLine=, which cannot
    # see a stamped `kateskit.install.device`. ExecCondition= exit 1 skips the unit, 255 fails it.
    systemd.services.kateskit-install = {
      description = "KatesKit unattended install (kateskit.install.device= on the kernel command line or stamped)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "local-fs.target" "network-online.target" ];
      before = [ "kateskit-agent.service" ];
      path = [ pkgs.efibootmgr ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecCondition = "${exe} install --request-check install";
        # The device on the kernel command line is the operator's consent to overwrite a blank
        # disk; a disk with data also needs its serial (kateskit.install.wipe=). --unattended
        # never prompts and refuses kernel names such as /dev/sda; the disk module still refuses
        # a disk that is mounted, locked, in use, an OSD disk of the node, the boot medium or
        # too small; a machine that booted by BIOS is refused (the disk boots only by UEFI).
        ExecStart = "${exe} install --unattended --boot-request";
        ExecStartPost = lib.mkIf cfg.install.rebootAfter "${pkgs.systemd}/bin/systemctl --no-block reboot";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
      };
    };

    # A machine being installed must not also be configured or join as a live node, and after
    # a failed install the join must not run either (it would bury the install's error under
    # its own). Drop-ins on the agent's units: the same question, the other answer.
    systemd.services.kateskit-agent.serviceConfig.ExecCondition = "${exe} install --request-check live";
    systemd.services.kateskit-join.serviceConfig.ExecCondition = "${exe} install --request-check live";
    # `install` sets the installed disk's UEFI boot entry and BootNext with it.
    environment.systemPackages = [ pkgs.efibootmgr ];
  };
}
