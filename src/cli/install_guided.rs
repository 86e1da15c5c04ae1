//! `kateskit install` with no target on a terminal: asks for the disk and, when the live medium
//! carries no config, for role, server, token, hostname and SSH keys, like k3os's installer.
//! The library lists and judges the disks and checks every answer; this only asks and prints.
//! The answers go to the same install path as the flags (`install::choose`, then the write).

use std::path::{Path, PathBuf};

use kateskit::disk::DiskEnv;
use kateskit::install::{self, Answers, Candidate, Prepared};
use kateskit::spec::Role;

use super::term::{self, UNTOUCHED};

const GIB: f64 = (1u64 << 30) as f64;

/// What the session settled: the disk (by the name install is given) and, unless the live
/// medium's config is kept, the answers to stamp.
pub struct Guided {
    pub device: PathBuf,
    pub disk: String,
    pub answers: Option<Answers>,
}

/// Asks every question; nothing is written here.
pub fn ask(
    env: &DiskEnv,
    min_size: u64,
    wipe_data: Option<&str>,
    ask_config: bool,
) -> anyhow::Result<Guided> {
    eprintln!("kateskit guided install: the answers are checked here, then summarised; nothing is written before you confirm.");
    let (device, disk) = ask_disk(env, min_size, wipe_data)?;
    let answers = if ask_config {
        Some(ask_config_answers()?)
    } else {
        eprintln!("The live medium carries this node's config; it is installed as it is.");
        None
    };
    Ok(Guided {
        device,
        disk,
        answers,
    })
}

/// `931.5 GiB`, or `32 MiB` below a GiB (loop devices, small sticks).
fn size(bytes: u64) -> String {
    if bytes as f64 >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

fn describe(c: &Candidate) -> String {
    let f = &c.facts;
    format!(
        "{} ({}, model {}, serial {}): {}",
        c.path.display(),
        size(f.size),
        f.model.as_deref().unwrap_or("?"),
        f.serial.as_deref().unwrap_or("?"),
        c.state
    )
}

fn ask_disk(
    env: &DiskEnv,
    min_size: u64,
    wipe_data: Option<&str>,
) -> anyhow::Result<(PathBuf, String)> {
    let list = install::candidates(env, min_size, wipe_data);
    if list.is_empty() {
        anyhow::bail!("no disks found in /sys/block; {UNTOUCHED}");
    }
    eprintln!("Disks:");
    for (i, c) in list.iter().enumerate() {
        let mark = if c.verdict.is_ok() { "    " } else { "[no]" };
        eprintln!("  {mark} {:>2}) {}", i + 1, describe(c));
    }
    eprintln!("  ([no]: install refuses this disk; picking it says why)");
    loop {
        let a = term::line("Install to which disk? (number or name): ")?;
        let Some(c) = install::pick(&list, &a) else {
            eprintln!("  `{}` is none of the disks listed", a.trim());
            continue;
        };
        match &c.verdict {
            Ok(()) => return Ok((c.path.clone(), describe(c))),
            Err(why) => eprintln!("  refused {}: {why}", c.path.display()),
        }
    }
}

/// Asks until `check` accepts the answer, printing each refusal.
fn until<T>(
    prompt: &str,
    hidden: bool,
    check: impl Fn(&str) -> Result<T, install::AnswerError>,
) -> anyhow::Result<T> {
    loop {
        let a = if hidden {
            term::hidden(prompt)?
        } else {
            term::line(prompt)?
        };
        match check(&a) {
            Ok(v) => return Ok(v),
            Err(e) => eprintln!("  {e}"),
        }
    }
}

fn ask_config_answers() -> anyhow::Result<Answers> {
    let role = until(
        "Role of this node (server/agent): ",
        false,
        install::parse_role,
    )?;
    let server_prompt = match role {
        Role::Agent => "Server URL to join (https://SERVER:6443): ",
        Role::Server => "Server URL to join (empty: this is the first server): ",
    };
    let server_url = until(server_prompt, false, |s| install::check_server_url(role, s))?;
    let joins = server_url.is_some();
    let token_prompt = if joins {
        "Cluster token (hidden): "
    } else {
        "Cluster token (hidden; empty: k3s generates one): "
    };
    let token = until(token_prompt, true, |s| install::check_token(role, joins, s))?;
    let hostname = until(
        "Hostname (empty: from DHCP, else node-<MAC>): ",
        false,
        install::check_hostname,
    )?;
    let mut ssh_keys = Vec::new();
    loop {
        let a = term::line("SSH public key, or a file of keys (empty line: done): ")?;
        let a = a.trim();
        if a.is_empty() {
            break;
        }
        let got = if a.starts_with('/') || a.starts_with("./") {
            install::ssh_keys_from_file(Path::new(a))
        } else {
            install::check_ssh_key(a).map(|k| vec![k])
        };
        match got {
            Ok(keys) => {
                eprintln!("  added {} key(s)", keys.len());
                ssh_keys.extend(keys);
            }
            Err(e) => eprintln!("  {e}"),
        }
    }
    if ssh_keys.is_empty() {
        eprintln!("  no SSH key: the installed node's console asks for a password that is not set, so only SSH with a key logs in");
    }
    Ok(Answers {
        role,
        server_url,
        token,
        hostname,
        ssh_keys,
    })
}

/// Shows the summary (never the token) and asks for the disk's name or `yes`.
pub fn confirm(g: &Guided, prepared: &Prepared) -> anyhow::Result<()> {
    let dev = prepared.canonical();
    let kernel = dev
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    eprintln!();
    eprintln!("Summary:");
    eprintln!("  {:<9} {}", "disk", g.disk);
    if let Some(a) = &g.answers {
        for (k, v) in a.summary() {
            eprintln!("  {k:<9} {v}");
        }
    }
    eprintln!("Everything on {} is lost.", dev.display());
    let a = term::line(&format!(
        "Type the disk's name ({kernel}) or yes to install: "
    ))?;
    let a = a.trim();
    let named = a == "yes"
        || (!kernel.is_empty() && a == kernel)
        || Path::new(a) == dev
        || Path::new(a) == g.device;
    if !named {
        anyhow::bail!("not confirmed; {UNTOUCHED}");
    }
    Ok(())
}
