#!/bin/busybox sh
# UEFI guest (OVMF): installs the raw image onto the second virtio disk with the real
# efibootmgr against the firmware's variables, then prints what the firmware now holds.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp /dev/disk/by-id
for m in $(cat /modules.order); do insmod /modules/$m.ko; done
sleep 1
for s in /sys/block/vd*; do
  n=${s##*/}; ser=$(cat $s/serial 2>/dev/null)
  [ -n "$ser" ] && ln -s /dev/$n /dev/disk/by-id/virtio-$ser
done
mount -t efivarfs efivarfs /sys/firmware/efi/efivars
echo "==FIRMWARE $( [ -d /sys/firmware/efi ] && echo uefi || echo bios )=="
echo "==BEFORE-BEGIN=="; efibootmgr; echo "==BEFORE-END=="
/bin/kateskit install --yes --device /dev/disk/by-id/virtio-target --image /install.img --node-config /node.json > /tmp/install.out 2>&1
echo "==RC $?=="
echo "==INSTALL-BEGIN=="; cat /tmp/install.out; echo "==INSTALL-END=="
echo "==AFTER-BEGIN=="; efibootmgr -v; echo "==AFTER-END=="
# A reinstall onto the same disk (now holding the image: its serial is the consent).
/bin/kateskit install --yes --device /dev/disk/by-id/virtio-target --wipe-data target --image /install.img --node-config /node.json > /tmp/install2.out 2>&1
echo "==RC2 $?=="
echo "==AGAIN-BEGIN=="; efibootmgr; echo "==AGAIN-END=="
reboot -f
