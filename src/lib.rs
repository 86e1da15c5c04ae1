//! KatesKit: turn bare metal into k3s nodes.
//!
//! The library holds the typed logic; the `kateskit` binary in `main.rs` wires it to the CLI.

pub mod agent;
pub mod bundle;
pub mod disk;
pub mod duration;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod image;
pub mod install;
pub mod io;
pub mod k3os;
pub mod k3s;
pub mod kube;
pub mod mac;
pub mod netboot;
pub mod node_watch;
pub mod nodecfg;
pub mod pki;
pub mod redact;
pub mod schema;
pub mod secret;
pub mod slots;
pub mod spec;
pub mod upgrade;
