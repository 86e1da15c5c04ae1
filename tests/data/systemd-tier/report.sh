#!/bin/sh
# Test only: writes this boot's evidence to /var/lib/kateskit-test/boot-N/, then powers off.
set -u
base=/var/lib/kateskit-test
mkdir -p "$base"
n=$(( $(cat "$base/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$base/count"
d="$base/boot-$n"
rm -rf "$d"; mkdir -p "$d"
# Give the stand-in a moment to listen before asking it.
i=0
while [ $i -lt 20 ] && ! /usr/local/bin/busybox wget -q -O "$d/ping" http://127.0.0.1:6443/ping 2>/dev/null; do
  i=$((i+1)); sleep 0.5
done
/usr/local/bin/busybox wget -q -O "$d/cacerts" http://127.0.0.1:6443/cacerts 2>/dev/null
for u in kateskit-network kateskit-agent k3s kateskit-join systemd-networkd systemd-networkd-wait-online systemd-timesyncd; do
  systemctl show "$u.service" -p ActiveState -p Result -p ExecMainStartTimestampMonotonic \
    -p ExecMainExitTimestampMonotonic -p ActiveEnterTimestampMonotonic -p ConditionResult \
    > "$d/unit-$u"
done
ip -4 -o addr show > "$d/ip"
hostname > "$d/hostname"
timedatectl show-timesync -p SystemNTPServers > "$d/timesync" 2>&1
networkctl list --no-pager --no-legend > "$d/networkctl" 2>&1
cp /run/kateskit/status.json "$d/status.json" 2>/dev/null
stat -c '%n %Y' /etc/hostname /etc/systemd/network/* /etc/systemd/timesyncd.conf.d/* \
  /etc/rancher/k3s/config.yaml.d/* /etc/kateskit/k3s.env > "$d/mtimes" 2>/dev/null
journalctl -b -o short-monotonic --no-pager > "$d/journal"
sync
systemctl --no-block poweroff
