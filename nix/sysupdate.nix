# sysupdate.d(5) transfers for a KatesKit release feed at `url`, as attribute sets for
# nixpkgs' `systemd.sysupdate.transfers` (builtins only: also evaluated by the project's tests).
# The store goes first, so a UKI is never installed without the store it mounts.
{ slots, url, tries }:
{
  "10-kateskit-store" = {
    Transfer = { ProtectVersion = "%A"; Verify = "no"; };
    Source = {
      Type = "url-file";
      Path = url;
      MatchPattern = slots.storeName "@v";
    };
    Target = {
      Type = "partition";
      Path = "auto";
      MatchPattern = slots.storeLabel "@v";
      MatchPartitionType = slots.storeType;
      InstancesMax = 2;
    };
  };
  "20-kateskit-uki" = {
    Transfer = { ProtectVersion = "%A"; Verify = "no"; };
    Source = {
      Type = "url-file";
      Path = url;
      MatchPattern = slots.ukiName "@v";
    };
    Target = {
      Type = "regular-file";
      Path = "/EFI/Linux";
      PathRelativeTo = "boot";
      # Being tried (with and without the done count), then blessed.
      MatchPattern = [ "kateskit_@v+@l-@d.efi" "kateskit_@v+@l.efi" (slots.ukiName "@v") ];
      Mode = "0444";
      TriesLeft = tries;
      TriesDone = 0;
      InstancesMax = 2;
    };
  };
}
