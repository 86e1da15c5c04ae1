#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp /dev/disk/by-id /dev/disk/by-label
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
sleep 1
for s in /sys/block/vd*; do
  n=${s##*/}; ser=$(cat $s/serial 2>/dev/null)
  [ -n "$ser" ] && ln -s /dev/$n /dev/disk/by-id/virtio-$ser
done
# Without test.bylabel the agent must find the drive through libblkid itself.
if grep -q test.bylabel /proc/cmdline; then d=$(findfs LABEL=KATESKIT) && ln -s $d /dev/disk/by-label/KATESKIT; fi
KATESKIT_SYSTEMCTL=/bin/fake-systemctl KATESKIT_K3S_LOG_CMD=true /bin/kateskit agent run > /tmp/agent.out 2>&1
echo "==RC $?=="
echo "==STATUS-BEGIN=="; cat /run/kateskit/status.json; echo "==STATUS-END=="
echo "==SOURCES-BEGIN=="; cat /run/kateskit/sources; echo "==SOURCES-END=="
echo "==JOURNAL-BEGIN=="; cat /var/lib/kateskit/journal.json; echo "==JOURNAL-END=="
echo "==DROPIN-BEGIN=="; cat /etc/rancher/k3s/config.yaml.d/10-kateskit.yaml; echo "==DROPIN-END=="
echo "==SYSTEMCTL $(cat /run/systemctl.log | tr '\n' ';')=="
echo "==HOSTNAME $(hostname)=="
echo "==IP_FORWARD $(cat /proc/sys/net/ipv4/ip_forward)=="
reboot -f
