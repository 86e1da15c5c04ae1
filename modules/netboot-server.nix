# services.kateskit-netboot: `kateskit netboot serve` as a system service on the machine that
# boots a rack (docs/netboot.md, "NixOS"). Independent of `kateskit.enable`: the server is
# usually not a cluster node.
#
# The service runs as its own system user with only the two capabilities serve needs:
# CAP_NET_BIND_SERVICE (DHCP 67, TFTP 69, PXE 4011) and CAP_NET_RAW (SO_BINDTODEVICE on the
# DHCP sockets, so replies leave on the rack interface). Its only writable path is the state
# directory (fleet timeline, approvals, leases, TLS key). The cluster directory holds the
# cluster's secrets, so it is a plain string path outside the Nix store, read at run time.
{ config, lib, pkgs, utils, ... }:
let
  cfg = config.services.kateskit-netboot;
  inherit (lib) mkOption mkEnableOption types;

  user = "kateskit-netboot";
  exe = lib.getExe cfg.package;
  # One systemd ExecStart argument (quoted; `%` and `$` escaped). A Nix path is copied to the
  # store as usual; an unset artifacts reaches its assertion instead of a coercion error.
  q = v: utils.escapeSystemdExecArg (if v == null then "" else "${v}");
  opt = flag: v: lib.optionalString (v != null) " ${flag} ${q v}";
  many = flag: vs: lib.concatMapStrings (v: " ${flag} ${q v}") vs;

  range = if cfg.range == null then null else "${cfg.range.first},${cfg.range.last}";
  # The netboot build (images/netboot.nix) names the kernel arguments its initrd needs
  # (`init=<toplevel>/init` and the image's boot.kernelParams); a plain directory names none.
  artifactKargs = if builtins.isAttrs cfg.artifacts then cfg.artifacts.kargs or [ ] else [ ];
  kargs = artifactKargs ++ cfg.extraKargs;

  device = "sys-subsystem-net-devices-${utils.escapeSystemdPath cfg.interface}.device";
  stateName = lib.removePrefix "/var/lib/" cfg.stateDir;
  caps = [ "CAP_NET_BIND_SERVICE" "CAP_NET_RAW" ];
  tcpPorts = [ cfg.httpPort cfg.httpsPort ];
  udpPorts = [ 67 4011 cfg.tftpPort ];
in
{
  options.services.kateskit-netboot = {
    enable = mkEnableOption "the KatesKit netboot server (`kateskit netboot serve`: DHCP, TFTP for iPXE, HTTP(S))";

    package = mkOption {
      type = types.package;
      default = config.kateskit.package;
      defaultText = lib.literalExpression "config.kateskit.package";
      description = "The kateskit package whose `netboot serve` runs.";
    };

    interface = mkOption {
      type = types.str;
      example = "enp3s0";
      description = "The rack-facing interface DHCP answers on; the service is bound to its device unit.";
    };

    dhcp = mkOption {
      type = types.enum [ "proxy" "full" ];
      default = "proxy";
      description = ''
        `proxy`: ProxyDHCP beside the site's DHCP server, answering PXE clients only. `full`: the
        DHCP server of an isolated rack network; needs {option}`services.kateskit-netboot.range`.
      '';
    };

    range = mkOption {
      type = types.nullOr (types.submodule {
        options.first = mkOption { type = types.str; description = "First address handed out."; };
        options.last = mkOption { type = types.str; description = "Last address handed out."; };
      });
      default = null;
      example = { first = "192.0.2.100"; last = "192.0.2.199"; };
      description = "Addresses `dhcp = \"full\"` hands out (on the interface's network); null in proxy mode.";
    };

    listen = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "192.0.2.1";
      description = "Address of the TFTP and HTTP(S) listeners; null for the interface's IPv4 address.";
    };

    unknown = mkOption {
      type = types.enum [ "ignore" "pending" ];
      default = "ignore";
      description = ''
        Machines neither cluster.toml nor an approval names: `ignore` (no answer) or `pending`
        (booted into the agent's `unconfigured` state until `kateskit netboot approve`).
      '';
    };

    stateDir = mkOption {
      type = types.str;
      default = "/var/lib/kateskit-netboot";
      description = ''
        Fleet state (timeline, approvals, leases, the TLS certificate and key). Made by systemd's
        StateDirectory= with mode 0700, so it must lie under /var/lib.
      '';
    };

    cluster = mkOption {
      type = types.str;
      example = "/var/lib/kateskit/rack";
      description = ''
        The cluster directory (cluster.toml and the secrets `kateskit cluster init` made), read at
        run time by the `kateskit-netboot` user. A string, not a Nix path: a path would copy the
        secrets into the world-readable Nix store.
      '';
    };

    artifacts = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = lib.literalExpression "(kateskit.lib.mkCluster { spec = ./rack; }).generic.images.netboot";
      description = ''
        Directory holding `vmlinuz`, `initrd.img` and optionally `install.img` (+ `SHA256SUMS`):
        the netboot build of the cluster's generic image (`system.build.kateskitNetboot`, also
        `lib.mkCluster`'s `generic.images.netboot`), whose kernel arguments are then added too.
      '';
    };

    tftpRoot = mkOption {
      type = types.path;
      default = "${pkgs.ipxe}";
      defaultText = lib.literalExpression "\"\${pkgs.ipxe}\"";
      description = "The iPXE builds served over TFTP (`undionly.kpxe`, `ipxe.efi`, `snp.efi`).";
    };

    tftpPort = mkOption { type = types.port; default = 69; description = "UDP port of the TFTP server."; };
    httpPort = mkOption { type = types.port; default = 8080; description = "TCP port of the iPXE scripts and artifacts (plain HTTP, no secret)."; };
    httpsPort = mkOption { type = types.port; default = 8443; description = "TCP port of the per-node configs and status (HTTPS, pinned by the boot arguments)."; };

    slots = mkOption {
      type = types.ints.positive;
      default = 16;
      description = "Artifact bodies sent at once; further downloads queue in arrival order.";
    };

    router = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "DHCP option 3 (default gateway) in full mode.";
    };

    dns = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "DHCP option 6 (DNS servers) in full mode.";
    };

    installImage = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "install.img";
      description = ''
        Raw image (a file name inside {option}`services.kateskit-netboot.artifacts`) whose URL and
        SHA-256 the boot scripts hand to `kateskit install`; null lets serve take `install.img`
        when the directory has one.
      '';
    };

    extraKargs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "console=ttyS0,115200" ];
      description = "Kernel arguments for every boot script, after the netboot build's own (never a secret).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open UDP 67, 4011 and the TFTP port, and TCP the HTTP(S) ports, on the interface only.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.dhcp != "full" || cfg.range != null;
        message = "services.kateskit-netboot.dhcp = \"full\" hands out addresses: set services.kateskit-netboot.range = { first = \"192.0.2.100\"; last = \"192.0.2.199\"; } on ${cfg.interface}'s network, or use dhcp = \"proxy\" beside the site's DHCP server.";
      }
      {
        assertion = cfg.dhcp == "full" || (cfg.range == null && cfg.router == null && cfg.dns == [ ]);
        message = "services.kateskit-netboot: range, router and dns are DHCP settings of dhcp = \"full\"; proxy mode hands out no addresses or options. Remove them or set dhcp = \"full\".";
      }
      {
        assertion = cfg.artifacts != null;
        message = "services.kateskit-netboot.artifacts is unset: set it to the cluster's generic netboot build, e.g. (kateskit.lib.mkCluster { spec = ./rack; }).generic.images.netboot, or self.nixosConfigurations.<netboot system>.config.system.build.kateskitNetboot.";
      }
      {
        assertion = lib.hasPrefix "/" cfg.cluster && !(lib.hasPrefix builtins.storeDir cfg.cluster);
        message = "services.kateskit-netboot.cluster = \"${cfg.cluster}\": give the cluster directory as an absolute path outside the Nix store (it holds the cluster's secrets; the store is world-readable), e.g. /var/lib/kateskit/rack, readable by the ${user} user.";
      }
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.stateDir && stateName != "";
        message = "services.kateskit-netboot.stateDir = \"${cfg.stateDir}\" is not under /var/lib/: systemd's StateDirectory= makes it (mode 0700, owned by ${user}); choose /var/lib/<name>.";
      }
    ];

    # `kateskit netboot status` and `approve` for the operator.
    environment.systemPackages = [ cfg.package ];

    users.users.${user} = { isSystemUser = true; group = user; description = "KatesKit netboot server"; };
    users.groups.${user} = { };

    # Every flag on the one `kateskit netboot serve` line, so tests/nix_cli_calls.rs checks them against the CLI.
    systemd.services.kateskit-netboot = {
      description = "KatesKit netboot server on ${cfg.interface}";
      wantedBy = [ "multi-user.target" ];
      bindsTo = [ device ];
      after = [ device "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        ExecStart = "${exe} netboot serve --cluster ${q cfg.cluster} --artifacts ${q cfg.artifacts} --interface ${q cfg.interface} --dhcp ${cfg.dhcp} --unknown ${cfg.unknown} --state ${q cfg.stateDir} --tftp-root ${q cfg.tftpRoot} --tftp-port ${toString cfg.tftpPort} --http-port ${toString cfg.httpPort} --https-port ${toString cfg.httpsPort} --slots ${toString cfg.slots}${opt "--range" range}${opt "--listen" cfg.listen}${opt "--router" cfg.router}${many "--dns" cfg.dns}${opt "--install-image" cfg.installImage}${many "--karg" kargs}";
        Restart = "on-failure";
        RestartSec = "5s";
        User = user;
        Group = user;
        StateDirectory = stateName;
        StateDirectoryMode = "0700";
        UMask = "0077";
        AmbientCapabilities = caps;
        CapabilityBoundingSet = caps;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = [ cfg.stateDir ];
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        # Netlink: the interface's address and index; AF_UNIX: journald.
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_NETLINK" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        # A call outside the filter fails instead of killing the server mid-transfer.
        SystemCallErrorNumber = "EPERM";
      };
    };

    # On the rack interface only. TFTP data runs from an ephemeral server port; the client's
    # acknowledgements are replies of that flow, which the firewall's conntrack rule accepts.
    networking.firewall.interfaces.${cfg.interface} = lib.mkIf cfg.openFirewall {
      allowedUDPPorts = udpPorts;
      allowedTCPPorts = tcpPorts;
    };
  };
}
