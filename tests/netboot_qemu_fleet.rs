//! Unknown machines and a small rack in QEMU guests against `kateskit netboot serve`.
