# The two-slot disk contract (docs/upgrades.md, "Disk layout and update artifacts") as plain
# values, shared by images/raw.nix, modules/upgrade.nix and the update artifacts; builtins only,
# so the project's Nix tests evaluate it without nixpkgs. The node side
# (`kateskit node stage|commit|rollback|status`) reads and writes the same names.
rec {
  # GPT partition type of both store slots ("KatesKit store slot").
  storeType = "1abe2ad4-1252-43fc-b3e0-5eec1c866266";
  # The embed partition: type and name unchanged from the single-slot image, so
  # `kateskit image customize` and `kateskit install` find it as before.
  embedType = "3b6c0d5d-de39-40bd-9e6c-08b15a369d15";
  embedLabel = "KATESKIT-EMBED";
  espLabel = "ESP";
  dataLabel = "kateskit-data";
  # A slot never written carries the systemd-sysupdate name for a free partition.
  emptyLabel = "_empty";

  # GPT name of the slot holding `version`; the UKI of that version mounts /nix/store from it.
  storeLabel = version: "kateskit_${version}";
  # Blessed (known good) boot entry of `version` in ESP/EFI/Linux.
  ukiName = version: "kateskit_${version}.efi";
  storeName = version: "kateskit_${version}.store";
  # systemd-boot picks the newest kateskit_* entry that is good or still has tries.
  loaderConf = timeout: ''
    timeout ${toString timeout}
    default kateskit_*
    editor no
  '';

  # A VERSION is 1-64 of [0-9A-Za-z.~^-], starting alphanumeric. A GPT name holds 36 UTF-16
  # characters, so with the `kateskit_` prefix an image version may be at most 27 long.
  versionPattern = "[0-9A-Za-z][0-9A-Za-z.~^-]*";
  maxImageVersion = 36 - builtins.stringLength "kateskit_";
  versionProblem = v:
    if builtins.match versionPattern v == null then
      "\"${v}\" is not a version: use 1-27 of 0-9 A-Z a-z . ~ ^ -, starting with a letter or digit (no +, _ or /)"
    else if builtins.stringLength v > maxImageVersion then
      "\"${v}\" is ${toString (builtins.stringLength v)} characters; the slot's GPT name kateskit_<version> holds at most ${toString maxImageVersion}"
    else null;
}
