# The upgrade units from ./units, installed as modules/agent.nix installs the agent's: the file
# unchanged apart from the binary and PATH, enabled as its [Install] says.
#   kateskit-health.service   the health gate of a counted boot, required by
#                             boot-complete.target, FailureAction=reboot;
#   kateskit-commit.service   after boot-complete.target: `kateskit node commit`;
#   kateskit-upgrade.service  `kateskit node watch`, the node side of `kateskit upgrade`
#                             (kateskit.upgrade.watch.enable).
# The gate's timeout comes from kateskit.upgrade.healthTimeout: a drop-in replaces its
# ExecStart and keeps systemd's start timeout five minutes above it, so the gate reports what
# failed before systemd stops it.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit.upgrade;
  exe = lib.getExe config.kateskit.package;
  install = import ../nix/unit-install.nix;
  # Staging writes a slot and the ESP, commit renames entries; the same tools as the agent's.
  unitPath = with pkgs; [ util-linux gptfdisk systemd ];
  units = [ "kateskit-health.service" "kateskit-commit.service" ]
    ++ lib.optional cfg.watch.enable "kateskit-upgrade.service";
  unitText = name: builtins.replaceStrings [ "@kateskit@" "@path@" ]
    [ exe (lib.makeBinPath unitPath) ]
    (builtins.readFile (./units + "/${name}"));
  wantedBy = name: install "WantedBy" (unitText name);
  requiredBy = name: install "RequiredBy" (unitText name);
in
{
  config = lib.mkIf (config.kateskit.enable && cfg.enable) {
    systemd.packages = map (name: pkgs.writeTextDir "lib/systemd/system/${name}" (unitText name)) units;
    systemd.services.kateskit-health = {
      wantedBy = wantedBy "kateskit-health.service";
      requiredBy = requiredBy "kateskit-health.service";
      path = unitPath;
      serviceConfig = {
        ExecStart = [ "" "${exe} agent health --timeout ${toString cfg.healthTimeout}s" ];
        TimeoutStartSec = "${toString (cfg.healthTimeout + 300)}s";
      };
    };
    systemd.services.kateskit-commit = {
      wantedBy = wantedBy "kateskit-commit.service";
      requiredBy = requiredBy "kateskit-commit.service";
      path = unitPath;
    };
    systemd.services.kateskit-upgrade = lib.mkIf cfg.watch.enable {
      wantedBy = wantedBy "kateskit-upgrade.service";
      requiredBy = requiredBy "kateskit-upgrade.service";
      path = unitPath;
    };
  };
}
