# Development shell: the Rust toolchain plus every tool the test tiers call.
{ mkShell, kateskit, rustc, cargo, clippy, rustfmt, rust-analyzer, qemu, xorriso, mtools, gptfdisk
, cryptsetup, lvm2, cpio, zstd, dosfstools, e2fsprogs, kubernetes-helm }:

mkShell {
  inputsFrom = [ kateskit ];
  packages = [ rustc cargo clippy rustfmt rust-analyzer qemu xorriso mtools gptfdisk cryptsetup lvm2
    cpio zstd dosfstools e2fsprogs kubernetes-helm ];
}
