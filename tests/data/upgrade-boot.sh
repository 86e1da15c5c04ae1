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
  # What k3s writes on an agent before the gate runs: the kubelet's kubeconfig, here for
  # the STAND-IN Kubernetes API on the host.
  d=/var/lib/rancher/k3s/agent; mkdir -p $d
  cp /etc/kateskit/test/server-ca.crt /etc/kateskit/test/client-kubelet.* $d/
  cat > $d/kubelet.kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://10.0.2.2:$(arg kateskit.test.api)
    certificate-authority: $d/server-ca.crt
  name: local
users:
- name: kubelet
  user:
    client-certificate: $d/client-kubelet.crt
    client-key: $d/client-kubelet.key
EOF
  # kateskit-health.service: the real gate (k3s itself is a STAND-IN systemctl here).
  KATESKIT_SYSTEMCTL=/bin/standin-systemctl \
    kateskit agent health --timeout "$(arg kateskit.test.gate_timeout)" --json > /run/gate.json 2> /run/gate.err
  ok=$?
  echo "==GATE-BEGIN=="; cat /run/gate.json; echo "==GATE-END=="
  echo "==GATE-ERR-BEGIN=="; cat /run/gate.err; echo "==GATE-ERR-END=="
  echo "==GATE $ok=="
  if [ $ok -eq 0 ]; then
    # kateskit-commit.service, after boot-complete.target.
    echo "==COMMIT-BEGIN=="; kateskit node commit --json 2>&1; rc=$?
    echo "==COMMIT-END=="; echo "==COMMIT $rc=="
  fi
  # A failed gate: FailureAction=reboot. A passed one: reboot too, to show the commit holds.
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
