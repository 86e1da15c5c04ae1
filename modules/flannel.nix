# Flannel backend: what the host needs for the backend the cluster spec names (k3s runs
# flannel itself; the agent passes `flannel-backend` in the k3s config drop-in).
#   vxlan            kernel module vxlan,     UDP 8472
#   host-gw          no module, no port (nodes must share an L2 segment)
#   wireguard-native kernel module wireguard, UDP 51820 (IPv4) and 51821 (IPv6)
{ config, lib, ... }:
let
  cfg = config.kateskit;
  backend = cfg.flannel.backend;
  perBackend = {
    vxlan = { modules = [ "vxlan" ]; udp = [ 8472 ]; iface = [ "flannel.1" ]; };
    host-gw = { modules = [ ]; udp = [ ]; iface = [ ]; };
    wireguard-native = { modules = [ "wireguard" ]; udp = [ 51820 51821 ]; iface = [ "flannel-wg" "flannel-wg-v6" ]; };
  };
  sel = perBackend.${backend};
in
{
  options.kateskit.flannel.backend = lib.mkOption {
    type = lib.types.enum [ "vxlan" "host-gw" "wireguard-native" ];
    default = cfg.cluster.normalized.network.flannel_backend or "vxlan";
    defaultText = lib.literalExpression "network.flannel_backend from the cluster spec";
    description = ''
      Flannel backend; decides the kernel modules loaded at boot and the UDP ports opened.
      Must match the cluster spec, which is what k3s is configured with.
    '';
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = cfg.cluster.normalized == { } || backend == cfg.cluster.normalized.network.flannel_backend;
      message = "kateskit.flannel.backend = \"${backend}\" but the cluster spec says network.flannel_backend = \"${cfg.cluster.normalized.network.flannel_backend or "?"}\"; change one so both match, since k3s uses the spec's value.";
    }];

    boot.kernelModules = sel.modules;

    networking.firewall = lib.mkIf cfg.k3s.openFirewall {
      allowedUDPPorts = sel.udp;
      # Pod traffic from other nodes arrives on the flannel interface.
      trustedInterfaces = sel.iface;
    };
  };
}
