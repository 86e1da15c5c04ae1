# The pristine embed area: all zeros, the size the stamping tools expect. `size` is 262144
# for the ISO file and the netboot cpio member, 1 MiB for the raw partition (which repart
# creates zero-filled itself).
{ runCommand, cpio, size ? 262144 }:
{
  file = runCommand "kateskit-embed-${toString size}" { } ''
    truncate -s ${toString size} $out
  '';

  # newc cpio holding kateskit/embed.img, the netboot initrd slot.
  cpio = runCommand "kateskit-embed-cpio" { nativeBuildInputs = [ cpio ]; } ''
    mkdir -p root/kateskit
    truncate -s ${toString size} root/kateskit/embed.img
    cd root
    find kateskit | sort | cpio --quiet -o -H newc -R 0:0 > $out
  '';
}
