//! The host phase: hostname, SSH keys, sysctls, timezone and NTP, mapped write_files.
//! Every write is skipped when the file already holds the same bytes, so re-runs change nothing.

pub mod files;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::agent::ladder::effective::Effective;
use crate::agent::AgentEnv;
use crate::agent::AgentError;
use crate::fsutil::{self, FsError};

/// Sysctls k3s needs, written even when nothing else is configured.
pub const BASE_SYSCTLS: [(&str, &str); 3] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("fs.inotify.max_user_instances", "8192"),
];

/// Writes `data` atomically unless the file already has exactly these bytes and mode.
pub fn write_if_changed(path: &Path, data: &[u8], mode: u32) -> Result<bool, FsError> {
    // O_NOFOLLOW: a symlink planted at `path` is never read through; it counts as a change
    // and the rename below replaces it.
    let old = fsutil::read_nofollow(path, data.len() as u64);
    if let (Ok(Some(old)), Ok(meta)) = (old, std::fs::symlink_metadata(path)) {
        if old == data && meta.permissions().mode() & 0o7777 == mode && meta.file_type().is_file() {
            return Ok(false);
        }
    }
    let dir = path.parent().expect("absolute path has a parent");
    std::fs::create_dir_all(dir).map_err(|source| FsError {
        action: "creating directory",
        path: dir.to_path_buf(),
        source,
    })?;
    fsutil::write_atomic(path, data, mode)?;
    Ok(true)
}

/// Points `link` at `target` atomically (random temp symlink + rename) unless it already does.
pub fn symlink_if_changed(link: &Path, target: &str) -> Result<bool, FsError> {
    if std::fs::read_link(link).ok().as_deref() == Some(Path::new(target)) {
        return Ok(false);
    }
    let dir = link.parent().expect("absolute path has a parent");
    std::fs::create_dir_all(dir).map_err(|source| FsError {
        action: "creating directory",
        path: dir.to_path_buf(),
        source,
    })?;
    fsutil::symlink_atomic(link, target)?;
    Ok(true)
}

fn remove_if_present(path: &Path) -> Result<bool, FsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(FsError {
            action: "removing",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What the host phase did, for the runner.
#[derive(Debug, Default)]
pub struct HostOutcome {
    pub changed: usize,
    /// The NTP drop-in changed, so timesyncd needs a restart.
    pub ntp_changed: bool,
    pub warnings: Vec<String>,
}

/// Sets sysctls on the running kernel (only when the root is `/`); failures are warnings,
/// since the file in /etc/sysctl.d applies them on the next boot anyway.
fn apply_sysctls(pairs: &[(String, String)], warnings: &mut Vec<String>) {
    for (k, v) in pairs {
        let p = std::path::PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        if let Err(e) = std::fs::write(&p, v) {
            warnings.push(format!("sysctl {k}={v} not applied now ({e}); /etc/sysctl.d/90-kateskit.conf applies it on the next boot"));
        }
    }
}

/// Applies the host settings.
pub fn apply(env: &AgentEnv, cfg: &Effective) -> Result<HostOutcome, AgentError> {
    let mut out = HostOutcome::default();
    let h = &cfg.node.host;
    let src = |p: &str| cfg.merged.source_of(p).unwrap_or("defaults").to_string();
    let mut changed = 0usize;
    let mut bump = |b: bool| changed += usize::from(b);
    bump(write_if_changed(
        &env.path("etc/hostname"),
        format!("{}\n", h.hostname).as_bytes(),
        0o644,
    )?);
    if env.root == Path::new("/") {
        if let Err(e) = rustix::system::sethostname(h.hostname.as_bytes()) {
            tracing::warn!("setting the running hostname: {e}");
        }
    }
    let ssh = env.path("root/.ssh");
    fsutil::create_dir_mode(&ssh, 0o700)?;
    let keys: String = h
        .ssh_authorized_keys
        .iter()
        .map(|k| format!("{}\n", k.trim()))
        .collect();
    bump(write_if_changed(
        &ssh.join("authorized_keys"),
        keys.as_bytes(),
        0o600,
    )?);

    let mut sysctl = String::from("# Written by kateskit.\n");
    let pairs: Vec<(String, String)> = BASE_SYSCTLS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(cfg.agent.sysctls.clone())
        .collect();
    for (k, v) in &pairs {
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(AgentError::Config(format!(
                "{}: sysctl name `{k}` is not valid",
                src("agent.sysctls")
            )));
        }
        sysctl.push_str(&format!("{k} = {v}\n"));
    }
    bump(write_if_changed(
        &env.path("etc/sysctl.d/90-kateskit.conf"),
        sysctl.as_bytes(),
        0o644,
    )?);
    if env.root == Path::new("/") {
        apply_sysctls(&pairs, &mut out.warnings);
    }

    let tz = &h.timezone;
    if tz.is_empty()
        || tz.contains("..")
        || tz.starts_with('/')
        || !tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c))
    {
        return Err(AgentError::Config(format!(
            "{}: host.timezone `{tz}` is not a zoneinfo name like Europe/Berlin",
            src("host.timezone")
        )));
    }
    bump(symlink_if_changed(
        &env.path("etc/localtime"),
        &format!("/etc/zoneinfo/{tz}"),
    )?);

    let ntp = env.path("etc/systemd/timesyncd.conf.d/10-kateskit.conf");
    out.ntp_changed = if h.ntp_servers.is_empty() {
        remove_if_present(&ntp)?
    } else {
        let body = format!(
            "# Written by kateskit.\n[Time]\nNTP={}\n",
            h.ntp_servers.join(" ")
        );
        write_if_changed(&ntp, body.as_bytes(), 0o644)?
    };
    bump(out.ntp_changed);

    bump(crate::agent::phases::host::files::etc_hosts(env, cfg)?);
    changed += crate::agent::phases::host::files::write_files(env, cfg, false)?;
    out.changed = changed;
    Ok(out)
}

/// The host phase: [`apply`], then timesyncd restarted when its servers changed.
pub(super) fn run(
    env: &AgentEnv,
    st: &mut crate::agent::phases::RunState,
) -> Result<crate::agent::phases::Finished, AgentError> {
    let cfg = st.effective.as_ref().expect("discover succeeded");
    let h = apply(env, cfg)?;
    let detail = format!("hostname {}", cfg.node.host.hostname);
    st.warnings.extend(h.warnings);
    if h.ntp_changed {
        crate::agent::phases::systemctl(env, &["try-restart", "systemd-timesyncd.service"])
            .map_err(AgentError::Host)?;
    }
    Ok(crate::agent::phases::Finished::Done(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_if_changed_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        assert!(write_if_changed(&p, b"x", 0o600).unwrap());
        assert!(!write_if_changed(&p, b"x", 0o600).unwrap());
        assert!(write_if_changed(&p, b"x", 0o644).unwrap());
        assert!(symlink_if_changed(&d.path().join("l"), "/t").unwrap());
        assert!(!symlink_if_changed(&d.path().join("l"), "/t").unwrap());
    }
}
