# The first-boot agent, in two oneshot units that run on every boot (the phases are idempotent
# and journaled, so the second run changes nothing it does not have to):
#   kateskit-agent.service  before k3s: network, host, disks, k3s config; must succeed before
#                           k3s may start (k3s Requires it), so a node that cannot be set up as
#                           declared never joins half-configured;
#   kateskit-join.service   after k3s: runs the agent again, which now verifies the join
#                           (/ping, /cacerts against the token's CA hash, node Ready) and, on
#                           Rook servers, seeds Rook's rook-ceph-mon Secret. It cannot
#                           be the first unit: that one is ordered before k3s and would wait for
#                           a k3s that systemd starts only once it has finished.
# Image defaults for the config ladder come from /etc/kateskit/image.json, written here.
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

  # Disk classification and OSD preparation shell out to these.
  agentPath = with pkgs; [ util-linux gptfdisk lvm2 cryptsetup kmod e2fsprogs iproute2 systemd ]
    ++ cfg.agent.extraPath;
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
      path = agentPath;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} agent run --before-k3s";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
        StateDirectory = "kateskit";
      };
    };

    systemd.services.kateskit-join = {
      description = "KatesKit agent: verify this node's k3s join and report";
      wantedBy = [ "multi-user.target" ];
      requires = [ "k3s.service" ];
      after = [ "k3s.service" ];
      path = agentPath;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} agent run";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
      };
    };
  };
}
