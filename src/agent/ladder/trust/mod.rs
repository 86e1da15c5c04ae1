//! The trust model: which config source may set which keys, and when. One table, consulted by
//! the ladder and checked against the table in docs/agent.md ("Trust model").
//!
//! The kernel command line, the stamped embed area and the image defaults are the owner's and
//! may set anything on every boot. A config drive (removable media) and `config_url` configure
//! an unstamped node on its first boot; on a stamped node they never set the protected keys,
//! and after the first successful run (the identity record exists) drives are not read unless
//! the owner's config says `agent.config_drive = "always"`.

mod keys;

pub use keys::{allowed, filter, key_class, OWNER_ONLY, PROTECTED};

/// Where a config layer came from, as far as trust is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    ImageDefaults,
    EmbedArea,
    KernelCmdline,
    EmbedKargs,
    ConfigDrive,
    ConfigUrl,
    /// A config_url whose URL and pin (`config_sha256` of the body, or on https://
    /// `config_tls_sha256` of the server's key) both come from the owner's sources: its bytes
    /// are the owner's.
    PinnedConfigUrl,
    /// A k3os `config.yaml` at the root of a config drive: trusted as the drive.
    K3osConfigDrive,
    /// `k3os.*` kernel arguments: trusted as the kernel command line.
    K3osKernelCmdline,
    /// A k3os config served as the config_url body: trusted as config_url.
    K3osConfigUrl,
    /// A k3os config served by a config_url the owner pinned: trusted as that.
    K3osPinnedConfigUrl,
    /// `/etc/kateskit/config.d`, a flat config tree that is part of the image or the installed
    /// system: the owner's.
    ConfigD,
    /// A `config/` flat config tree on a config drive: trusted as the drive.
    DriveTree,
    /// `KATESKIT_VALUE_*` files named by the agent unit's environment: the owner's.
    ValueFiles,
}

impl Source {
    pub const ALL: [Source; 14] = [
        Source::ImageDefaults,
        Source::EmbedArea,
        Source::KernelCmdline,
        Source::EmbedKargs,
        Source::ConfigDrive,
        Source::ConfigUrl,
        Source::PinnedConfigUrl,
        Source::K3osConfigDrive,
        Source::K3osKernelCmdline,
        Source::K3osConfigUrl,
        Source::K3osPinnedConfigUrl,
        Source::ConfigD,
        Source::DriveTree,
        Source::ValueFiles,
    ];

    /// The name the docs' table uses.
    pub fn name(self) -> &'static str {
        match self {
            Source::ImageDefaults => "image defaults",
            Source::EmbedArea => "embed area",
            Source::KernelCmdline => "kernel command line",
            Source::EmbedKargs => "embed kernel arguments",
            Source::ConfigDrive => "config drive",
            Source::ConfigUrl => "config_url",
            Source::PinnedConfigUrl => "config_url pinned by the owner",
            Source::K3osConfigDrive => "k3os config.yaml on a config drive",
            Source::K3osKernelCmdline => "k3os.* kernel arguments",
            Source::K3osConfigUrl => "k3os config.yaml as config_url",
            Source::K3osPinnedConfigUrl => "k3os config.yaml as config_url pinned by the owner",
            Source::ConfigD => "config.d",
            Source::DriveTree => "config/ tree on a config drive",
            Source::ValueFiles => "KATESKIT_VALUE_* files",
        }
    }
}

/// Classes of keys with different trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Who the node is and who may log in or write files as root: [`PROTECTED`].
    Protected,
    /// Settings that decide which sources are read: [`OWNER_ONLY`].
    OwnerOnly,
    /// Everything else (hostname, timezone, labels, ...).
    Other,
}

impl KeyClass {
    pub const ALL: [KeyClass; 3] = [KeyClass::Protected, KeyClass::OwnerOnly, KeyClass::Other];

    pub fn name(self) -> &'static str {
        match self {
            KeyClass::Protected => "protected",
            KeyClass::OwnerOnly => "owner-only",
            KeyClass::Other => "other",
        }
    }
}

/// The boot a source is read on, and whether the owner stamped this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    FirstBootUnstamped,
    FirstBootStamped,
    LaterBootUnstamped,
    LaterBootStamped,
}

impl When {
    pub const ALL: [When; 4] = [
        When::FirstBootUnstamped,
        When::FirstBootStamped,
        When::LaterBootUnstamped,
        When::LaterBootStamped,
    ];

    pub fn new(first_boot: bool, stamped: bool) -> When {
        match (first_boot, stamped) {
            (true, false) => When::FirstBootUnstamped,
            (true, true) => When::FirstBootStamped,
            (false, false) => When::LaterBootUnstamped,
            (false, true) => When::LaterBootStamped,
        }
    }

    fn index(self) -> usize {
        When::ALL.iter().position(|w| *w == self).expect("listed")
    }
}

/// May a source set a key class at a given boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Yes,
    No,
    /// Only when the owner's config sets `agent.config_drive = "always"`.
    IfAlways,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::Yes => "yes",
            Access::No => "no",
            Access::IfAlways => "if always",
        }
    }
}

/// `agent.config_drive`: when config drives (and embed partitions on other disks) are read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DrivePolicy {
    /// Until the node's identity is recorded (the default).
    #[default]
    FirstBoot,
    /// On every boot (still never the protected keys on a stamped node).
    Always,
    /// Never.
    Never,
}

impl DrivePolicy {
    pub const VALUES: [&str; 3] = ["first-boot", "always", "never"];

    pub fn parse(v: &str) -> Option<DrivePolicy> {
        match v {
            "first-boot" => Some(DrivePolicy::FirstBoot),
            "always" => Some(DrivePolicy::Always),
            "never" => Some(DrivePolicy::Never),
            _ => None,
        }
    }
}

use Access::{IfAlways, No, Yes};

/// The trust table: (source, key class) → access at each [`When`], in [`When::ALL`] order.
pub const TABLE: [(Source, KeyClass, [Access; 4]); 42] = [
    (
        Source::ImageDefaults,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::ImageDefaults,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::ImageDefaults, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::Protected, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::OwnerOnly, [Yes, Yes, Yes, Yes]),
    (Source::EmbedArea, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::KernelCmdline,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::KernelCmdline,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::KernelCmdline, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::EmbedKargs,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::EmbedKargs,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::EmbedKargs, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::ConfigDrive,
        KeyClass::Protected,
        [Yes, No, IfAlways, No],
    ),
    (Source::ConfigDrive, KeyClass::OwnerOnly, [No, No, No, No]),
    (
        Source::ConfigDrive,
        KeyClass::Other,
        [Yes, Yes, IfAlways, IfAlways],
    ),
    (Source::ConfigUrl, KeyClass::Protected, [Yes, No, Yes, No]),
    (Source::ConfigUrl, KeyClass::OwnerOnly, [No, No, No, No]),
    (Source::ConfigUrl, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::PinnedConfigUrl,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::PinnedConfigUrl,
        KeyClass::OwnerOnly,
        [No, No, No, No],
    ),
    (
        Source::PinnedConfigUrl,
        KeyClass::Other,
        [Yes, Yes, Yes, Yes],
    ),
    // k3os configs: the rows of the carrier they come on.
    (
        Source::K3osConfigDrive,
        KeyClass::Protected,
        [Yes, No, IfAlways, No],
    ),
    (
        Source::K3osConfigDrive,
        KeyClass::OwnerOnly,
        [No, No, No, No],
    ),
    (
        Source::K3osConfigDrive,
        KeyClass::Other,
        [Yes, Yes, IfAlways, IfAlways],
    ),
    (
        Source::K3osKernelCmdline,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::K3osKernelCmdline,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::K3osKernelCmdline,
        KeyClass::Other,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::K3osConfigUrl,
        KeyClass::Protected,
        [Yes, No, Yes, No],
    ),
    (Source::K3osConfigUrl, KeyClass::OwnerOnly, [No, No, No, No]),
    (Source::K3osConfigUrl, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::K3osPinnedConfigUrl,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::K3osPinnedConfigUrl,
        KeyClass::OwnerOnly,
        [No, No, No, No],
    ),
    (
        Source::K3osPinnedConfigUrl,
        KeyClass::Other,
        [Yes, Yes, Yes, Yes],
    ),
    // Flat config trees: config.d and KATESKIT_VALUE_* files are the owner's, a drive's
    // config/ has the drive's rows.
    (Source::ConfigD, KeyClass::Protected, [Yes, Yes, Yes, Yes]),
    (Source::ConfigD, KeyClass::OwnerOnly, [Yes, Yes, Yes, Yes]),
    (Source::ConfigD, KeyClass::Other, [Yes, Yes, Yes, Yes]),
    (
        Source::DriveTree,
        KeyClass::Protected,
        [Yes, No, IfAlways, No],
    ),
    (Source::DriveTree, KeyClass::OwnerOnly, [No, No, No, No]),
    (
        Source::DriveTree,
        KeyClass::Other,
        [Yes, Yes, IfAlways, IfAlways],
    ),
    (
        Source::ValueFiles,
        KeyClass::Protected,
        [Yes, Yes, Yes, Yes],
    ),
    (
        Source::ValueFiles,
        KeyClass::OwnerOnly,
        [Yes, Yes, Yes, Yes],
    ),
    (Source::ValueFiles, KeyClass::Other, [Yes, Yes, Yes, Yes]),
];

/// The source whose trust a k3os config carried by `carrier` has.
pub fn k3os_on(carrier: Source) -> Source {
    match carrier {
        Source::ConfigDrive => Source::K3osConfigDrive,
        Source::ConfigUrl => Source::K3osConfigUrl,
        Source::PinnedConfigUrl => Source::K3osPinnedConfigUrl,
        _ => Source::K3osKernelCmdline,
    }
}

/// The table's entry for a source and key class at a boot.
pub fn access(src: Source, class: KeyClass, when: When) -> Access {
    TABLE
        .iter()
        .find(|(s, c, _)| *s == src && *c == class)
        .map(|(_, _, a)| a[when.index()])
        .expect("the table covers every source and key class")
}
