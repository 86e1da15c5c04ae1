//! Netboot for racks (`kateskit netboot`, docs/netboot.md): DHCP (proxy or full) that points
//! PXE firmware at iPXE, TFTP that serves only the iPXE builds, and HTTP(S) for iPXE scripts,
//! artifacts and per-node configs. Each protocol is its own module over std/tokio sockets, so
//! each can be tested alone on 127.0.0.1 and in network namespaces.

pub mod api;
pub mod dhcp;
pub mod doctor;
pub mod fleet;
pub mod http;
pub mod serve;
pub mod tftp;
