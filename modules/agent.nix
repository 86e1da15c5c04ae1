# The first-boot agent, in oneshot units that run on every boot (the phases are idempotent
# and journaled, so the second run changes nothing it does not have to); the units are the
# files in ./units:
#   kateskit-network.service  before network-pre.target: static network from the local config
#                           sources, so networkd starts with the declared address;
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

  unitNames = [ "kateskit-network.service" "kateskit-agent.service" "kateskit-join.service" ];
  unitText = name: builtins.replaceStrings [ "@kateskit@" "@path@" ]
    [ (lib.getExe cfg.package) (lib.makeBinPath agentPath) ]
    (builtins.readFile (./units + "/${name}"));
  # The targets a unit file's `WantedBy=` lines name (builtins only: also evaluated by the
  # project's Nix tests without nixpkgs).
  installWantedBy = text: builtins.concatMap
    (l:
      let m = builtins.match "WantedBy=(.*)" l;
      in if m == null then [ ]
      else builtins.filter (w: builtins.isString w && w != "") (builtins.split " " (builtins.head m)))
    (builtins.filter builtins.isString (builtins.split "\n" text));
  wantedByOf = name: installWantedBy (unitText name);
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

    # The unit files in ./units are the units: installed unchanged apart from the binary and
    # PATH (the systemd tier boots the same files under Debian's systemd, tests/systemd_boot.rs).
    # NixOS ignores a packaged unit's [Install], so wantedBy is read from its WantedBy= lines;
    # the systemd.services entries below become drop-ins (overrideStrategy asDropinIfExists),
    # so other modules can still add conditions. Their PATH (the same list plus NixOS's
    # defaults) overrides the file's.
    systemd.packages = map (name: pkgs.writeTextDir "lib/systemd/system/${name}" (unitText name)) unitNames;
    systemd.services.kateskit-network = { wantedBy = wantedByOf "kateskit-network.service"; path = agentPath; };
    systemd.services.kateskit-agent = { wantedBy = wantedByOf "kateskit-agent.service"; path = agentPath; };
    systemd.services.kateskit-join = { wantedBy = wantedByOf "kateskit-join.service"; path = agentPath; };
  };
}
