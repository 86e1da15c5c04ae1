# systemd-sysupdate as the other way to install a release: the same directory `kateskit node
# stage` reads (kateskit_<V>.efi, kateskit_<V>.store, SHA256SUMS), written to the same places
# (the `_empty` or older store slot renamed kateskit_<V>, the UKI as kateskit_<V>+<tries>-0.efi).
# Only with a feed URL; its timers stay off: an update runs when someone starts
# systemd-sysupdate.service (or `systemd-sysupdate update`), never on a schedule.
{ config, lib, ... }:
let
  cfg = config.kateskit.upgrade;
  slots = import ../nix/slots.nix;
  transfers = import ../nix/sysupdate.nix { inherit slots; url = cfg.sysupdate.url; tries = cfg.tries; };
in
{
  options.kateskit.upgrade.sysupdate.url = lib.mkOption {
    type = lib.types.nullOr lib.types.str;
    default = null;
    example = "https://releases.example.com/kateskit/";
    description = ''
      Directory URL (ending in `/`) of the release feed for systemd-sysupdate. null: no
      transfers are installed. sysupdate checks SHA256SUMS but not a pin of it (`Verify=no`:
      releases are not signed), so serve the feed over HTTPS from a host the nodes trust;
      `kateskit upgrade` pins SHA256SUMS itself.
    '';
  };

  config = lib.mkIf (config.kateskit.enable && cfg.enable && cfg.sysupdate.url != null) {
    assertions = [{
      assertion = lib.hasSuffix "/" cfg.sysupdate.url;
      message = "kateskit.upgrade.sysupdate.url = \"${cfg.sysupdate.url}\" must end in / (the directory that holds SHA256SUMS).";
    }];
    systemd.sysupdate.enable = true;
    systemd.sysupdate.transfers = transfers;
    # nixpkgs' module enables the update timer; KatesKit's rollout starts updates itself.
    systemd.timers.systemd-sysupdate.wantedBy = lib.mkForce [ ];
  };
}
