#!/usr/bin/env bash
# Writes the release directory of one version: update.sh VERSION UKI STORE_PARTITION OUT.
# STORE_PARTITION is slot A as systemd-repart split it out (the whole fixed-size partition);
# the .store file is its erofs image only, cut at the size the superblock records, so a
# release does not carry the slot's unused tail. Exits non-zero naming the file on bad input.
set -euo pipefail
version=$1 uki=$2 part=$3 out=$4
fail() { echo "kateskit update: $*" >&2; exit 1; }
[ -f "$uki" ] || fail "$uki: no UKI"
[ -f "$part" ] || fail "$part: no store partition image"
# erofs superblock at 1024: magic (le32 0xe0f5e1e2), blkszbits at +12, blocks (le32) at +36.
magic=$(od -An -tx4 -j1024 -N4 "$part" | tr -d ' \n')
[ "$magic" = e0f5e1e2 ] || fail "$part: no erofs superblock (magic '$magic' at byte 1024)"
bits=$(od -An -tu1 -j1036 -N1 "$part" | tr -d ' \n')
blocks=$(od -An -tu4 -j1060 -N4 "$part" | tr -d ' \n')
size=$((blocks << bits))
have=$(stat -c %s "$part")
[ "$size" -gt 0 ] && [ "$size" -le "$have" ] ||
  fail "$part: erofs claims $size bytes but the partition image has $have"
mkdir -p "$out"
install -m 0444 "$uki" "$out/kateskit_$version.efi"
head -c "$size" "$part" > "$out/kateskit_$version.store"
chmod 0444 "$out/kateskit_$version.store"
(cd "$out" && sha256sum "kateskit_$version.efi" "kateskit_$version.store" > SHA256SUMS)
