#!/bin/busybox sh
# Guest /init for tests/qemu_disk.rs: an active LVM volume on a real kernel with
# device-mapper, then the disk module's view of the disk under it.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run/lock/lvm /tmp /dev/disk/by-id
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
sleep 1
for s in /sys/block/vd*; do
  n=${s##*/}; ser=$(cat $s/serial 2>/dev/null)
  [ -n "$ser" ] && ln -s /dev/$n /dev/disk/by-id/virtio-$ser
done
C='devices { obtain_device_list_from_udev = 0 } activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }'
D=/dev/disk/by-id/virtio-KATESKIT_LVM
lvm pvcreate -y --config "$C" $D && lvm vgcreate --config "$C" kkvg $D && \
  lvm lvcreate -y -Zn --config "$C" -L 8M -n data kkvg
echo "==LVM $?=="
echo "==HOLDERS $(ls /sys/block/$(basename $(readlink $D))/holders)=="
echo "==INSPECT-BEGIN=="; /bin/kateskit disk inspect --json $D; echo "==INSPECT-END=="
dd if=/dev/zero of=/tmp/small.img bs=1024 count=64 2>/dev/null
/bin/kateskit flash --yes /tmp/small.img $D > /tmp/flash.out 2>&1
echo "==FLASH-RC $?=="
echo "==FLASH-BEGIN=="; cat /tmp/flash.out; echo "==FLASH-END=="
poweroff -f
