#!/bin/busybox sh
# /init of the netboot test initramfs (tests/serve_support/guest.rs): the NIC comes up by DHCP
# (busybox udhcpc here; the NixOS netboot image uses systemd-networkd), then the real agent
# runs with the kernel command line the boot script gave, and the results go to the console.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp /dev/disk/by-id
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
for s in /sys/block/vd*; do
  [ -e "$s" ] || continue
  n=${s##*/}; ser=$(cat $s/serial 2>/dev/null)
  [ -n "$ser" ] && ln -s /dev/$n /dev/disk/by-id/virtio-$ser
done
echo "==INIT up=="
echo "==DISKS $(ls /dev/disk/by-id | tr '\n' ' ')=="
cat > /etc/udhcpc.script <<'S'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    env | grep -E '^(ip|mask|subnet|router|serverid)=' >&2
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$serverid" > /run/dhcp-server ;;
esac
exit 0
S
chmod 755 /etc/udhcpc.script
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 2 -s /etc/udhcpc.script > /tmp/udhcpc.out 2>&1
echo "==NET $(ip -4 -o addr show dev eth0 | awk '{print $4}') from $(cat /run/dhcp-server 2>/dev/null)=="
echo "==UDHCPC-BEGIN=="; cat /tmp/udhcpc.out; echo "==UDHCPC-END=="
echo "==CMDLINE $(cat /proc/cmdline)=="
KATESKIT_SYSTEMCTL=/bin/fake-systemctl KATESKIT_K3S_LOG_CMD=true /bin/kateskit agent run > /tmp/agent.out 2>&1
echo "==RC $?=="
echo "==STATUS-BEGIN=="; cat /run/kateskit/status.json; echo "==STATUS-END=="
echo "==AGENT-BEGIN=="; cat /tmp/agent.out; echo "==AGENT-END=="
echo "==TOKEN_SHA256 $(sha256sum /var/lib/kateskit/token 2>/dev/null | cut -d' ' -f1)=="
echo "==SYSTEMCTL $(cat /run/systemctl.log 2>/dev/null | tr '\n' ';')=="
echo "==DONE=="
poweroff -f
