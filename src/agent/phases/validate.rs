//! The validate phase: checks that types alone cannot express, each error naming the source
//! of the offending value.

pub mod persist;

use crate::agent::ladder::effective::{attribute, Effective};
use crate::pki::Token;
use crate::spec::Role;

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A missing essential: what needs it, and every place it could come from. A server's token
/// never comes from its running command line (`kernel_secrets`), so that way is not offered.
/// The kernel argument is named without `=`: shown text masks `kateskit.token=` values.
fn missing(what: &str, path: &str, karg: &str, value: &str, on_cmdline: bool) -> String {
    let first = if on_cmdline {
        format!("give it as the kernel argument `{karg}` ({value}), ")
    } else {
        String::new()
    };
    format!(
        "missing: {what}; {first}stamp the kernel argument `{karg}` into the embed area \
         (`kateskit image customize --karg`), set `{path}` on a config drive (kateskit.json on \
         a KATESKIT drive), or serve `{path}` in the config_url body"
    )
}

/// All problems at once, so one boot shows every fix needed.
pub fn check(cfg: &Effective) -> Result<String, String> {
    let n = &cfg.node;
    let mut errs: Vec<String> = Vec::new();
    let mut bad = |path: &str, msg: String| errs.push(attribute(&cfg.merged, path, &msg));
    if !dns_label(&n.node.name) {
        bad(
            "node.name",
            format!(
                "`{}` is not a DNS label (lower-case letters, digits, `-`, at most 63)",
                n.node.name
            ),
        );
    }
    if n.host.hostname.len() > 253 || !n.host.hostname.split('.').all(dns_label) {
        bad(
            "host.hostname",
            format!("`{}` is not a valid host name", n.host.hostname),
        );
    }
    for (i, m) in n.node.macs.iter().enumerate() {
        if crate::spec::normalize_mac(m).is_none() {
            bad(
                &format!("node.macs[{i}]"),
                format!("`{m}` is not a MAC address like 52:54:00:12:34:56"),
            );
        }
    }
    match (&n.k3s.server_url, n.node.role) {
        (Some(u), _) if !u.starts_with("https://") => bad(
            "k3s.server_url",
            format!("`{u}` must start with https:// (k3s accepts only https server URLs)"),
        ),
        (None, Role::Agent) => bad(
            "k3s.server_url",
            missing(
                "an agent joins a running cluster and needs its server URL",
                "k3s.server_url",
                "kateskit.server",
                "https://SERVER:6443",
                true,
            ),
        ),
        _ => {}
    }
    for (i, u) in n.k3s.server_urls.iter().enumerate() {
        if !u.starts_with("https://") {
            bad(
                "k3s.server_urls",
                format!("k3s.server_urls[{i}] `{u}` must start with https:// (k3s accepts only https server URLs)"),
            );
        }
    }
    if let Some(ip) = &n.k3s.node_ip {
        if ip
            .split(',')
            .any(|a| a.parse::<std::net::IpAddr>().is_err())
        {
            bad("k3s.node_ip", format!("`{ip}` is not an IP address"));
        }
    }
    for (k, v) in [
        ("k3s.cluster_cidr", &n.k3s.cluster_cidr),
        ("k3s.service_cidr", &n.k3s.service_cidr),
    ] {
        if v.split(',').any(|c| c.parse::<ipnet::IpNet>().is_err()) {
            bad(k, format!("`{v}` is not a CIDR like 10.42.0.0/16"));
        }
    }
    for d in &n.k3s.disable {
        if !crate::nodecfg::PACKAGED.contains(&d.as_str()) {
            bad(
                "k3s.disable",
                format!(
                    "`{d}` is not a k3s packaged component ({})",
                    crate::nodecfg::PACKAGED.join(", ")
                ),
            );
        }
    }
    for (i, d) in n.storage.osd_disks.iter().enumerate() {
        for p in crate::spec::osd_disk_problems(d) {
            bad(
                &format!("storage.osd_disks[{i}].{}", p.field),
                format!("{}; {}", p.message, p.fix),
            );
        }
    }
    let joins = n.node.role == Role::Agent || n.k3s.server_url.is_some();
    match &n.secrets {
        // A first server without a token: k3s generates one (server/token) and the agent
        // reads it from there.
        None if !joins => {}
        None => bad(
            "secrets.token",
            missing(
                &format!(
                    "a joining {} needs the cluster's join token",
                    n.node.role.as_str()
                ),
                "secrets.token",
                "kateskit.token",
                "K10...",
                n.node.role == Role::Agent,
            ),
        ),
        Some(s) => match Token::parse(s.token.expose()) {
            Err(e) => bad("secrets.token", format!("{e}")),
            Ok(t) if !t.ca_hash.is_empty() && t.ca_hash != s.ca_hash => {
                bad("secrets.token", format!("the token pins CA hash {} but secrets.ca_hash is {}; token and CA come from different clusters", t.ca_hash, s.ca_hash));
            }
            Ok(_) => {}
        },
    }
    if let Some(u) = &cfg.agent.phone_home {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            bad("agent.phone_home", format!("`{u}` is not an http(s) URL"));
        }
    }
    if errs.is_empty() {
        Ok(format!(
            "{} {} in cluster {}",
            n.node.role.as_str(),
            n.node.name,
            n.cluster.name
        ))
    } else {
        Err(errs.join("; "))
    }
}
/// The validate phase: [`check`], then whether the state a node needs survives a reboot.
pub(super) fn run(
    env: &crate::agent::AgentEnv,
    st: &mut crate::agent::phases::RunState,
) -> Result<crate::agent::phases::Finished, crate::agent::AgentError> {
    use crate::agent::AgentError;
    let cfg = st.effective.as_ref().expect("discover succeeded");
    let detail = check(cfg).map_err(AgentError::Config)?;
    let warnings = persist::check(env, cfg).map_err(AgentError::Config)?;
    st.warnings.extend(warnings);
    Ok(crate::agent::phases::Finished::Done(detail))
}
