# Netboot embed area: `kateskit image initrd` (or `kateskit netboot serve`) appends a small newc
# cpio holding kateskit/embed.img to the initrd list. The kernel unpacks every initrd into the
# same initramfs, so the file appears as /kateskit/embed.img in stage 1; this copies it to
# /run/kateskit/embed.img, which survives the switch to stage 2, where the agent reads it. The
# file holds the node's secrets: mode 0600, and nothing when there is no such file.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  src = "/kateskit/embed.img";
  dst = "/run/kateskit/embed.img";
in
{
  config = lib.mkIf cfg.enable (lib.mkMerge [
    (lib.mkIf config.boot.initrd.systemd.enable {
      boot.initrd.systemd.services.kateskit-embed = {
        description = "Copy the KatesKit netboot embed area to /run";
        wantedBy = [ "initrd.target" ];
        before = [ "initrd-switch-root.target" ];
        unitConfig = {
          DefaultDependencies = false;
          ConditionPathExists = src;
        };
        serviceConfig = {
          Type = "oneshot";
          # The agent's run directory is private (0700) from its creation on.
          ExecStartPre = "${pkgs.coreutils}/bin/install -d -m 0700 /run/kateskit";
          ExecStart = "${pkgs.coreutils}/bin/install -D -m 0600 ${src} ${dst}";
        };
      };
      boot.initrd.systemd.storePaths = [ "${pkgs.coreutils}/bin/install" ];
    })
    (lib.mkIf (!config.boot.initrd.systemd.enable) {
      boot.initrd.postMountCommands = ''
        if [ -f ${src} ]; then
          mkdir -p -m 0700 /run/kateskit
          cp ${src} ${dst}
          chmod 0600 ${dst}
        fi
      '';
    })
  ]);
}
