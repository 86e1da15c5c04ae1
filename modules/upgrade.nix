# A/B upgrades on the two-slot raw image (images/raw.nix sets `kateskit.upgrade.enable`):
#   - the version the image, its UKI, its store slot and its update artifacts carry;
#   - boot assessment: systemd-bless-boot.service and boot-complete.target from systemd, and
#     kernel arguments that turn a panic or a crashed PID 1 into a reboot, so a counted entry
#     that cannot boot uses up its tries and systemd-boot falls back to the other slot;
#   - systemd-sysupdate transfers for the same release layout `kateskit node stage` reads,
#     with its timers off (KatesKit decides when a node updates) (./upgrade-sysupdate.nix);
#   - the health gate, commit and rollout-watcher units (./upgrade-units.nix).
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit.upgrade;
  slots = import ../nix/slots.nix;
  inherit (lib) mkOption mkEnableOption types;
  problem = slots.versionProblem cfg.version;
in
{
  imports = [ ./upgrade-sysupdate.nix ./upgrade-units.nix ];

  options.kateskit.upgrade = {
    enable = mkEnableOption "A/B upgrades: the health gate before boot-complete.target, commit, the rollout watcher and boot counting (the raw image turns it on)";

    version = mkOption {
      type = types.str;
      default = "0";
      example = "1.4.0";
      description = ''
        Version of this image: part of the UKI name (`kateskit_<version>.efi`), the store slot's
        GPT name (`kateskit_<version>`), os-release `IMAGE_VERSION` and the update artifacts.
        Ordered as systemd orders versions (`systemd-analyze compare-versions`); a node only
        stages a newer one. The flake sets `<package version>.<commit date>`; set it for releases.
      '';
    };

    slotSize = mkOption {
      type = types.str;
      default = "4G";
      example = "6G";
      description = ''
        Size of each of the two store slots (systemd-repart size: bytes or a K/M/G/T suffix).
        Fixed when a disk is written: later releases must fit the slots of the disks they
        upgrade, so leave room for growth.
      '';
    };

    espSize = mkOption {
      type = types.str;
      default = "512M";
      description = "Size of the ESP, which holds systemd-boot, two UKIs and the one being staged.";
    };

    loaderTimeout = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = "Seconds systemd-boot shows its menu (0: only while a key is held).";
    };

    tries = mkOption {
      type = types.ints.between 1 9;
      default = 3;
      description = ''
        Boots a version installed by systemd-sysupdate gets (`TriesLeft=`) before systemd-boot
        gives up on it and boots the other slot. `kateskit node stage` takes its own `--tries`
        (default 3), which `kateskit node watch` uses as it is: keep the two equal.
      '';
    };

    healthTimeout = mkOption {
      type = types.ints.positive;
      default = 600;
      example = 1200;
      description = ''
        Seconds the health gate (`kateskit agent health --timeout`) waits for k3s, Node Ready
        and, on servers, etcd and the API before it fails the boot (and the boot reboots).
      '';
    };

    watch.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run `kateskit node watch` (kateskit-upgrade.service), the node side of `kateskit upgrade`.";
    };
  };

  config = lib.mkIf (config.kateskit.enable && cfg.enable) {
    assertions = [{
      assertion = problem == null;
      message = "kateskit.upgrade.version: ${toString problem}.";
    }];

    # Blessing: systemd-bless-boot-generator pulls the service in when the booted entry has a
    # boot counter; the service waits for boot-complete.target, which the health gate holds.
    systemd.additionalUpstreamSystemUnits = [ "systemd-bless-boot.service" "boot-complete.target" ];

    # A kernel panic reboots after 5 s, a crashed PID 1 reboots, and the scripted stage 1
    # panics rather than offering a shell: each such boot costs one try of a counted entry.
    boot.kernelParams = [ "panic=5" "boot.panic_on_fail" "systemd.crash_reboot=yes" ];
    # No emergency shell when a mount fails: the boot goes on and the health gate fails it
    # (FailureAction=reboot) instead of the machine waiting on a console nobody watches.
    systemd.enableEmergencyMode = false;
  };
}
