# k3s on a generic image: the role is only known at boot, so the agent decides it.
#
# Why not nixpkgs' `services.k3s.role`: that option is fixed at build time and the module bakes
# it into ExecStart (`k3s <role>`), together with the unit Type (`notify` for servers, `exec`
# for agents) and the token/server flags. One image must boot as either role, so here:
#   * the agent writes /etc/kateskit/k3s.env (K3S_ROLE=server|agent) and the k3s flags as
#     drop-ins in /etc/rancher/k3s/config.yaml.d/ (k3s reads every *.yaml there after the main
#     config file, which may be absent);
#   * ExecStart is replaced by a wrapper that checks K3S_ROLE and execs `k3s $K3S_ROLE`;
#   * Type is `exec` for both roles (an agent never sends READY=1, so `notify` would hang it);
#     the agent's join phase waits for the node to be Ready instead.
# What is still used from services.k3s: `enable` (the unit's limits, Delegate, KillMode,
# Restart, ordering after firewall and network-online, and the package on PATH), `package`,
# and `images` (tmpfiles links into the agent images directory, see bundle.nix). No option that
# only acts through ExecStart (role, token, disable, extraFlags, ...) is set, since the wrapper
# replaces ExecStart.
{ config, lib, pkgs, ... }:
let
  cfg = config.kateskit;
  k3s = config.services.k3s.package;

  roleExec = pkgs.writeShellScript "kateskit-k3s-exec" ''
    case "''${K3S_ROLE:-}" in
      server|agent) exec ${k3s}/bin/k3s "$K3S_ROLE" ;;
      *)
        echo "kateskit: K3S_ROLE=''${K3S_ROLE:-(unset)} in /etc/kateskit/k3s.env is not server or agent;" \
             "run 'systemctl restart kateskit-agent' and read 'journalctl -u kateskit-agent'" >&2
        exit 1 ;;
    esac
  '';

  # k3s's ordering against the agent is the drop-in ./units/k3s.service.d/kateskit.conf (the
  # systemd tier installs it unchanged for its stand-in k3s.service); here its [Unit] keys
  # become the NixOS unit's, so both read one file. Values of every `key=` line, split on spaces.
  dropin = builtins.filter builtins.isString
    (builtins.split "\n" (builtins.readFile ./units/k3s.service.d/kateskit.conf));
  dropinValues = key: builtins.concatMap
    (l:
      let m = builtins.match "${key}=(.*)" l;
      in if m == null then [ ]
      else builtins.filter (w: builtins.isString w && w != "") (builtins.split " " (builtins.head m)))
    dropin;
in
{
  options.kateskit.k3s = {
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.k3s;
      defaultText = lib.literalExpression "pkgs.k3s";
      description = "The k3s package (nixpkgs `k3s`, or a pinned `k3s_1_xx`).";
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Open the k3s ports: TCP 6443 (supervisor and API), 10250 (kubelet) and 2379-2380
        (embedded etcd). All of them on every node, since the role is chosen at boot.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    services.k3s = {
      enable = true;
      package = cfg.k3s.package;
    };

    systemd.services.k3s = {
      # time-sync.target (wanted by the drop-in) is a real barrier only with
      # systemd-time-wait-sync running (below).
      requires = dropinValues "Requires";
      wants = dropinValues "Wants";
      after = dropinValues "After";
      unitConfig.ConditionPathExists = builtins.concatStringsSep " " (dropinValues "ConditionPathExists");
      serviceConfig = {
        Type = lib.mkForce "exec";
        EnvironmentFile = lib.mkForce "/etc/kateskit/k3s.env";
        ExecStart = lib.mkForce "${roleExec}";
      };
    };

    # Holds time-sync.target until timesyncd has set the clock. Bounded: a site without a
    # reachable NTP server still gets k3s after the timeout (the unit fails, the target is
    # reached anyway), relying on the CAs' day of back-dating for a clock slightly behind.
    systemd.services.systemd-time-wait-sync = lib.mkIf config.services.timesyncd.enable {
      wantedBy = [ "sysinit.target" ];
      serviceConfig.TimeoutStartSec = lib.mkDefault "3min";
    };

    # k3s loads these and sets the sysctls itself at start; doing it at boot makes the host
    # ready before k3s runs and keeps --protect-kernel-defaults usable.
    boot.kernelModules = [ "overlay" "br_netfilter" "nf_conntrack" "iptable_nat" "ip6table_nat" ];
    boot.kernel.sysctl = {
      "net.ipv4.conf.all.forwarding" = 1;
      "net.ipv4.conf.default.forwarding" = 1;
      "net.ipv6.conf.all.forwarding" = 1;
      "net.bridge.bridge-nf-call-iptables" = 1;
      "net.bridge.bridge-nf-call-ip6tables" = 1;
    };

    networking.firewall = lib.mkIf cfg.k3s.openFirewall {
      allowedTCPPorts = [ 6443 10250 2379 2380 ];
      # Pods reach host services (kubelet, DNS on hostNetwork) through the CNI bridge.
      trustedInterfaces = [ "cni0" ];
    };
  };
}
