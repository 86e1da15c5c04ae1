# Host basics every KatesKit node needs before the agent runs: serial + VGA console (so the
# agent's journal+console output is visible on headless boxes), SSH for the keys the agent
# installs, systemd-networkd (the agent writes .network files and reloads it) and a
# stateVersion default.
{ config, lib, ... }:
let
  cfg = config.kateskit;
in
{
  options.kateskit.serialConsole = lib.mkOption {
    type = lib.types.nullOr lib.types.str;
    default = "ttyS0,115200";
    example = "ttyS1,115200n8";
    description = ''
      Serial console (kernel `console=` value) added after `console=tty0`; the last console is
      the one /dev/console and the agent's status output go to. null for VGA only.
    '';
  };

  config = lib.mkIf cfg.enable {
    boot.kernelParams = [ "console=tty0" ] ++ lib.optional (cfg.serialConsole != null) "console=${cfg.serialConsole}";

    # The agent owns /etc/hostname (host.hostname of the effective config). With a host name
    # set, NixOS links /etc/hostname into the store at every activation, so the node would
    # come up as "nixos" until the agent ran again; empty, NixOS leaves the file alone.
    networking.hostName = "";
    # networkd owns the links: kateskit-network.service (modules/units) writes the static
    # address of the local config sources before network-pre.target, the agent the final one;
    # until then DHCP runs on physical wired links only (never on cni0, flannel.*, veth*, ...),
    # from the file the systemd tier boots too. dhcpcd would also take those links and fight
    # networkd over static addresses.
    networking.useNetworkd = true;
    networking.useDHCP = false;
    networking.dhcpcd.enable = false;
    systemd.network.enable = true;
    # A node has one or two uplinks, often not all cabled: online is any link, not all.
    systemd.network.wait-online.anyInterface = true;
    environment.etc."systemd/network/99-kateskit-physical.network".source =
      ./units/99-kateskit-physical.network;

    # The agent writes /root/.ssh/authorized_keys from the NodeConfig; nothing else logs in.
    services.openssh.enable = lib.mkDefault true;

    system.stateVersion = lib.mkDefault "26.05";
  };
}
