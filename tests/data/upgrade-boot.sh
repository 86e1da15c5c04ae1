#!/bin/sh
# Runs inside the data partition (`/`) once the test UKI's /init set it up; STAND-IN for the
# booted system's units (see upgrade-boot-init.sh): on a counted (trying) entry the gate, then
# commit on pass or a reboot on failure; on the old version with nothing staged yet, stage.
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
G=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
var() { f=/sys/firmware/efi/efivars/$1-$G; [ -e "$f" ] && tail -c +5 "$f" | tr -d '\000'; }
VERSION=$(cat /etc/kateskit/version)
COUNTPATH=$(var LoaderBootCountPath)
echo "==SELECTED $(var LoaderEntrySelected)=="
echo "==COUNTPATH $COUNTPATH=="
# The UKI of VERSION uses the store slot named for VERSION: print what that slot holds.
size=$(cat /etc/kateskit/store-size)
echo "==STORE $(head -c "$size" /dev/disk/by-partlabel/kateskit_"$VERSION" | sha256sum | cut -d' ' -f1)=="
echo "==ESP-BEGIN=="; ls /boot/EFI/Linux; echo "==ESP-END=="

end() {
  echo "==STATUS-BEGIN=="; kateskit node status --json 2>&1; echo "==STATUS-END=="
  sync; umount /boot
  echo "==END $1=="
  "$1" -f
}

if [ -n "$COUNTPATH" ]; then
  gate=$(arg kateskit.test.gate)
  echo "==GATE-BEGIN=="
  if [ "$gate" = pass ]; then ok=0; else ok=1; fi
  echo "==GATE-END=="
  echo "==GATE $ok=="
  if [ $ok -eq 0 ]; then
    echo "==COMMIT-BEGIN=="; kateskit node commit --json 2>&1; rc=$?
    echo "==COMMIT-END=="; echo "==COMMIT $rc=="
  fi
  end reboot
fi
release=$(arg kateskit.test.release)
to=$(arg kateskit.test.to)
if [ -n "$release" ] && ! ls /boot/EFI/Linux | grep -q "^kateskit_$to[+.]"; then
  echo "==STAGE-BEGIN=="
  kateskit node stage "$release" --sums-sha256 "$(arg kateskit.test.sums)" --tries "$(arg kateskit.test.tries)" 2>&1
  rc=$?
  echo "==STAGE-END=="; echo "==STAGE $rc=="
  end reboot
fi
end poweroff
