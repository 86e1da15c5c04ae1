# The release directory of one version (docs/upgrades.md, "Disk layout and update artifacts"):
# kateskit_<V>.efi (the UKI), kateskit_<V>.store (slot A's erofs, from image.repart.split) and
# SHA256SUMS. `kateskit node stage DIR|URL` and systemd-sysupdate both read this layout.
{ lib, runCommand, version, image, uki }:
runCommand "kateskit-update-${version}" { } ''
  set -- ${image}/*.store.raw
  if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "kateskit update: expected one split store partition (*.store.raw) in ${image}, found: $*" >&2
    exit 1
  fi
  bash ${./update.sh} ${lib.escapeShellArg version} ${uki} "$1" $out
''
