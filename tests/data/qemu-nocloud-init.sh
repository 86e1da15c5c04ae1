#!/bin/busybox sh
# The guest's /init for tests/qemu_nocloud.rs: the agent finds the CIDATA drive through
# libblkid, then the test reads what it wrote from the serial console.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp /dev/disk/by-id /dev/disk/by-label
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
sleep 1
KATESKIT_SYSTEMCTL=/bin/fake-systemctl KATESKIT_K3S_LOG_CMD=true /bin/kateskit agent run > /tmp/agent.out 2>&1
echo "==RC $?=="
echo "==OUT-BEGIN=="; cat /tmp/agent.out; echo "==OUT-END=="
echo "==STATUS-BEGIN=="; cat /run/kateskit/status.json; echo "==STATUS-END=="
echo "==SOURCES-BEGIN=="; cat /run/kateskit/sources; echo "==SOURCES-END=="
for f in /etc/systemd/network/*; do echo "==FILE $f"; cat "$f"; done
echo "==NETWORK-END=="
echo "==HOSTS-BEGIN=="; cat /etc/hosts; echo "==HOSTS-END=="
echo "==GZIP-BEGIN=="; cat /etc/nocloud/gzip.txt; echo "==GZIP-END=="
echo "==GZB64-BEGIN=="; cat /etc/nocloud/gzb64.txt; echo "==GZB64-END=="
echo "==HOSTNAME $(hostname)=="
echo "==SYSTEMCTL $(cat /run/systemctl.log | tr '\n' ';')=="
reboot -f
