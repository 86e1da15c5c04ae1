//! Test hooks: `KATESKIT_*` environment overrides that exist only so the tests can run the
//! agent, `install` and `flash` as ordinary processes against stand-ins (another root, a fake
//! `systemctl`, an injected fault).
//!
//! They are read here and nowhere else, and only in a build with the `test-hooks` cargo
//! feature (`tests/run` enables it; the Nix package and a plain `cargo build --release` leave
//! it off). Without the feature every hook reads as unset, so a production binary cannot be
//! pointed at another root, made to run another program in place of `systemctl`, or made to
//! abort half-way through, by whatever environment it inherits. The `KATESKIT_*` variables that
//! are real settings (`KATESKIT_CHART_LOCK`, `KATESKIT_INSTALL_IMAGE`) are not hooks and are
//! read where they are used (docs/agent.md, "Test hooks").

/// Root of every path the agent reads or writes, and where `install` looks for embed areas.
pub const ROOT: &str = "KATESKIT_ROOT";
/// Kernel command line file instead of `/proc/cmdline`.
pub const CMDLINE: &str = "KATESKIT_CMDLINE";
/// Directory standing in for `/dev` when resolving disk names.
pub const DEV_DIR: &str = "KATESKIT_DEV_DIR";
/// udev database directory used for serial numbers.
pub const UDEV_DATA_DIR: &str = "KATESKIT_UDEV_DATA_DIR";
/// `disk prepare`'s state directory instead of `/var/lib/kateskit`.
pub const STATE_DIR: &str = "KATESKIT_STATE_DIR";
/// Command run instead of `systemctl`.
pub const SYSTEMCTL: &str = "KATESKIT_SYSTEMCTL";
/// File read as the embed area instead of the standard locations.
pub const EMBED: &str = "KATESKIT_EMBED";
/// Directory read as the config drive instead of finding and mounting one.
pub const CONFIG_DRIVE: &str = "KATESKIT_CONFIG_DRIVE";
/// Command run instead of `udevadm` (the agent's `udevadm settle` before the disks phase).
pub const UDEVADM: &str = "KATESKIT_UDEVADM";
/// Command run instead of `efibootmgr` (`install` setting the installed disk's boot entry).
pub const EFIBOOTMGR: &str = "KATESKIT_EFIBOOTMGR";
/// Command printing recent k3s log lines instead of `journalctl -u k3s`.
pub const K3S_LOG_CMD: &str = "KATESKIT_K3S_LOG_CMD";
/// Abort the agent right after the named phase is journaled.
pub const FAULT_AFTER: &str = "KATESKIT_FAULT_AFTER";
/// Make `flash` fail after this many bytes.
pub const FLASH_FAIL_AFTER: &str = "KATESKIT_FLASH_FAIL_AFTER";
/// Directory read as efivarfs instead of /sys/firmware/efi/efivars (`kateskit node`).
pub const EFIVARS_DIR: &str = "KATESKIT_EFIVARS_DIR";
/// Embedded etcd's client URL for the health gate instead of `https://127.0.0.1:2379`.
pub const ETCD_URL: &str = "KATESKIT_ETCD_URL";
/// Command run instead of `<this executable> node` by `kateskit node watch` (stage, status).
pub const NODE_CMD: &str = "KATESKIT_NODE_CMD";

/// Every hook, for the documentation test.
pub const ALL: [&str; 16] = [
    ROOT,
    CMDLINE,
    DEV_DIR,
    UDEV_DATA_DIR,
    STATE_DIR,
    SYSTEMCTL,
    UDEVADM,
    EFIBOOTMGR,
    EMBED,
    CONFIG_DRIVE,
    K3S_LOG_CMD,
    FAULT_AFTER,
    FLASH_FAIL_AFTER,
    EFIVARS_DIR,
    ETCD_URL,
    NODE_CMD,
];

/// True in a build with the `test-hooks` feature.
pub const ENABLED: bool = cfg!(feature = "test-hooks");

/// The hook's value when hooks are compiled in and it is set and non-empty; `None` otherwise.
pub fn var(name: &str) -> Option<String> {
    debug_assert!(ALL.contains(&name), "{name} is not a declared test hook");
    if !ENABLED {
        return None;
    }
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build without the feature (the release and Nix builds) ignores every hook even when
    /// it is set: `cargo test --lib hooks::` without `--features test-hooks` runs this.
    #[test]
    #[cfg(not(feature = "test-hooks"))]
    fn a_build_without_the_feature_ignores_every_hook() {
        for h in ALL {
            std::env::set_var(h, "/tmp/planted");
            assert_eq!(var(h), None, "{h} honoured without the test-hooks feature");
        }
        let env = crate::agent::AgentEnv::from_env();
        assert_eq!(env.root, std::path::PathBuf::from("/"));
        assert_eq!(env.systemctl, vec!["systemctl".to_string()]);
        assert_eq!(env.cmdline, std::path::PathBuf::from("/proc/cmdline"));
        assert!(env.embed_override.is_none() && env.drive_override.is_none());
        assert!(env.fault_after.is_none());
        assert_eq!(
            crate::image::flash::FlashOptions::from_env(None).fail_after,
            None
        );
    }

    #[test]
    #[cfg(feature = "test-hooks")]
    fn a_test_build_reads_the_hooks() {
        std::env::set_var(FAULT_AFTER, "host");
        assert_eq!(var(FAULT_AFTER).as_deref(), Some("host"));
        std::env::set_var(FAULT_AFTER, "");
        assert_eq!(var(FAULT_AFTER), None);
    }

    /// docs/agent.md lists every hook, and says how to turn them on.
    #[test]
    fn every_hook_is_documented() {
        let doc = include_str!("../docs/agent.md");
        for h in ALL {
            assert!(doc.contains(&format!("`{h}`")), "docs/agent.md lacks {h}");
        }
        assert!(doc.contains("--features test-hooks"));
    }
}
