# The first-boot agent: one oneshot unit that runs on every boot (its phases are idempotent and
# journaled) and must succeed before k3s may start. Image defaults for its config ladder come
# from /etc/kateskit/image.json, written here from the options.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;

  # Lowest rung of the agent's config ladder. `nodes` lets a generic image find its node by
  # MAC when nothing else names it; per-node images set `node`.
  imageJson = {
    apiVersion = "kateskit.dev/v1";
    kind = "ImageDefaults";
    variant = cfg.imageVariant;
    cluster = cfg.cluster.normalized.cluster.name or null;
    node = cfg.node;
    nodes = cfg.nodeConfigs;
  };
in
{
  options.kateskit.agent.extraPath = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Extra packages on the agent unit's PATH (tools a site-specific phase calls).";
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];

    environment.etc."kateskit/image.json".text = builtins.toJSON imageJson;

    systemd.services.kateskit-agent = {
      description = "KatesKit agent: configure this node and prepare its k3s join";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "local-fs.target" "network-online.target" ];
      before = [ "k3s.service" ];
      # Disk classification and OSD preparation shell out to these.
      path = with pkgs; [ util-linux gptfdisk lvm2 cryptsetup kmod e2fsprogs iproute2 systemd ] ++ cfg.agent.extraPath;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} agent run";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
        StateDirectory = "kateskit";
      };
    };
  };
}
