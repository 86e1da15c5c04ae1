//! Whether the live console may log root in without a password.
//!
//! A live image logs root in on the console so an unconfigured machine can be installed by
//! hand. Once its embed area is stamped it holds the node's config and tokens (on the first
//! server, the cluster's CA keys), and anyone at the console or on the serial line would get
//! them. The decision fails closed: the login wrapper (installer/default.nix) logs root in only
//! when [`MARKER`] exists, and only a positive finding writes it: every embed location absent
//! or pristine. A stamped area, a corrupt one or any error removes it.

use crate::agent::AgentEnv;
use crate::fsutil::{self, FsError};

/// The marker the console login wrapper checks, relative to the root.
pub const MARKER: &str = "run/kateskit/console-autologin";

/// The decision and the sentence saying why (`agent console-autologin --json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub autologin: bool,
    pub why: String,
}

/// Looks at the embed area the agent would read.
pub fn decide(env: &AgentEnv) -> Decision {
    let found = crate::agent::ladder::image_defaults::read(env)
        .and_then(|img| crate::agent::ladder::embed::read(env, img.embed_partuuid.as_deref()));
    match found.map(|(found, _notes)| found) {
        Ok(None) => Decision {
            autologin: true,
            why: "no embed area is stamped: console autologin as root stays on".into(),
        },
        Ok(Some(found)) => Decision {
            autologin: false,
            why: format!(
                "{} is stamped (it holds this node's config): console autologin is off; log in \
                 over SSH with the cluster's keys",
                found.desc
            ),
        },
        Err(e) => Decision {
            autologin: false,
            why: format!("the embed area could not be read ({e}): console autologin is off"),
        },
    }
}

/// Writes or removes [`MARKER`] to match `d`.
pub fn apply(env: &AgentEnv, d: &Decision) -> Result<(), FsError> {
    let path = env.path(MARKER);
    if d.autologin {
        fsutil::create_dir_mode(path.parent().expect("marker has a parent"), 0o700)?;
        return fsutil::write_atomic(&path, b"no stamped embed area\n", 0o600);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FsError {
            action: "removing",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(root: &std::path::Path, embed: Option<std::path::PathBuf>) -> AgentEnv {
        let mut e = AgentEnv::from_env();
        e.root = root.to_path_buf();
        e.embed_override = embed;
        e
    }

    #[test]
    fn only_an_unstamped_image_keeps_autologin() {
        let root = tempfile::tempdir().unwrap();
        let marker = root.path().join(MARKER);
        let e = env(root.path(), None);
        let check = |want: bool, why: &str| {
            let d = decide(&e);
            assert_eq!(d.autologin, want, "{}", d.why);
            assert!(d.why.contains(why), "{}", d.why);
            apply(&e, &d).unwrap();
            assert_eq!(marker.exists(), want);
        };
        // Nothing at any embed location.
        check(true, "no embed area is stamped");
        // A pristine (all zeros) area is unstamped too.
        let area = root.path().join("run/kateskit/embed.img");
        let pristine = crate::image::embed::build_area(262144, None, &[]).unwrap();
        std::fs::write(&area, &pristine).unwrap();
        check(true, "no embed area is stamped");
        // A config or kernel arguments: stamped; the marker goes away.
        let cfg = crate::image::embed::build_area(262144, Some(r#"{"host":{}}"#), &[]).unwrap();
        std::fs::write(&area, cfg).unwrap();
        check(false, "is stamped");
        std::fs::write(&area, &pristine).unwrap();
        check(true, "no embed area is stamped");
        let kargs = ["kateskit.role=agent".to_string()];
        let k = crate::image::embed::build_area(262144, None, &kargs).unwrap();
        std::fs::write(&area, k).unwrap();
        check(false, "is stamped");
        // An area that cannot be read fails closed.
        std::fs::write(&area, b"short").unwrap();
        check(false, "could not be read");
    }
}
