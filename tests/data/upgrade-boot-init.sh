#!/bin/busybox sh
# /init of a slot's test UKI (tests/upgrade_boot.rs). It is a STAND-IN for what systemd does in
# the booted NixOS image: the ordering of kateskit-health.service before boot-complete.target,
# kateskit-commit.service after it, and FailureAction=reboot when the gate fails (those unit
# files are tested in the systemd tier and the NixOS VM test, not here). What it runs is real:
# the kateskit binary, against the real systemd-boot's EFI variables and the real ESP.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
VERSION=$(cat /etc/kateskit/version)
echo "==VERSION $VERSION=="

# The disk's partitions by GPT name, as udev would link them (bounded wait for the disk).
i=0; while [ ! -e /sys/class/block/vda5 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p /dev/disk/by-partlabel
for u in /sys/class/block/vda*/uevent; do
  name=$(sed -n 's/^PARTNAME=//p' $u); dev=$(sed -n 's/^DEVNAME=//p' $u)
  [ -n "$name" ] && ln -sf /dev/$dev /dev/disk/by-partlabel/$name
done

# The data partition is `/` (as in the image); ESP at /boot; the initramfs' tools bound in.
R=/sysroot; mkdir -p $R
mount -t ext4 /dev/disk/by-partlabel/kateskit-data $R || echo "==MOUNT data failed=="
for d in bin lib lib64 etc proc sys dev boot run tmp var/lib/kateskit; do mkdir -p $R/$d; done
for d in bin lib lib64 etc; do [ -d /$d ] && mount --bind /$d $R/$d; done
mount --rbind /proc $R/proc; mount --rbind /dev $R/dev; mount --rbind /sys $R/sys
mount -t efivarfs efivarfs $R/sys/firmware/efi/efivars
mount -t vfat /dev/disk/by-partlabel/ESP $R/boot || echo "==MOUNT esp failed=="
mount -t tmpfs tmpfs $R/run

ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2

exec chroot $R /bin/sh /etc/kateskit/boot.sh
