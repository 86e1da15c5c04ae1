//! k3os compatibility: a k3os `config.yaml` or `k3os.*` kernel arguments read as a config
//! layer of the agent's ladder, and `kateskit cluster import k3os`. Every k3os key without a
//! KatesKit equivalent is reported by name with its source, never dropped silently
//! (docs/migrate-k3os.md).

pub mod cmdline;
pub mod config;
mod detect;
mod files;
pub mod import;
mod k3s_args;
pub mod map;
pub mod names;

pub use config::{parse_yaml, K3osConfig};
pub use detect::looks_like_k3os;
pub use map::{map, Mapped, Unmapped};

/// A k3os config that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum K3osError {
    #[error("{src}:{at} {msg}; fix the YAML there")]
    Yaml {
        src: String,
        at: String,
        msg: String,
    },
    #[error("{src}: {key}: expected {expected}; fix that key")]
    Shape {
        src: String,
        key: String,
        expected: String,
    },
    #[error("{src}: write_files[{index}] ({path}): {reason}")]
    File {
        src: String,
        index: usize,
        path: String,
        reason: String,
    },
}
