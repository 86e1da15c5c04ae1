//! The iPXE scripts the server returns (pure functions).
//!
//! iPXE splits a script line at whitespace with no quoting, ends a command at a token `||`,
//! `&&` or `;` or one starting with `#`, and expands every `${name}` (an unknown one to
//! nothing, with no escape), then joins a command's arguments with single spaces (iPXE
//! `src/core/exec.c`, `settings.c`). So every value put into a script is checked against those
//! rules and refused with the reason, never silently changed. Kernel arguments with spaces are
//! wrapped in double quotes as Linux reads them. No secret can be rendered: a kernel argument
//! whose key names a secret (`kateskit::redact::is_secret_karg_key`), a value that looks like a
//! k3s token and a PEM private key are refused, because secrets travel only over the pinned
//! HTTPS config endpoint.

/// Linux's `COMMAND_LINE_SIZE` on x86 and arm64, counting the terminating NUL: a longer line
/// is cut, silently dropping the last arguments.
const COMMAND_LINE_SIZE: usize = 2048;

/// Why a script could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("{what} {value:?} cannot be written into an iPXE script: {why}")]
    Unsafe {
        what: String,
        value: String,
        why: &'static str,
    },
    #[error("kernel argument {key} carries a secret; secrets reach the node only through the pinned HTTPS config_url, never an iPXE script")]
    Secret { key: String },
    #[error("{0}")]
    Invalid(String),
}

/// The first script: waits for the netboot offer, then chains to the per-node endpoint.
#[derive(Debug, Clone)]
pub struct ChainScript<'a> {
    /// Per-node endpoint without query, e.g. `http://192.0.2.1:8080/boot`; the script appends
    /// `/<mac>?uuid=…&serial=…&arch=…`.
    pub endpoint: &'a str,
    /// `dhcp` attempts until `${filename}` is set (the proxy offer may come second).
    pub dhcp_attempts: u32,
}

/// The per-node script: kernel, the generic initrd and the kernel arguments.
#[derive(Debug, Clone)]
pub struct BootScript<'a> {
    /// Shown in a comment and on the console.
    pub node: &'a str,
    pub kernel_url: &'a str,
    pub initrd_url: &'a str,
    /// `kateskit.config_url=` (https, with the node's MAC etc. already filled in).
    pub config_url: &'a str,
    /// How the agent trusts the config endpoint.
    pub config_pin: ConfigPin<'a>,
    /// Further kernel arguments (`console=ttyS0`, `kateskit.role=agent`, …).
    pub kargs: &'a [String],
}

/// The trust anchor of the config endpoint carried in the kernel arguments.
#[derive(Debug, Clone, Copy)]
pub enum ConfigPin<'a> {
    /// A PEM certificate (CA or self-signed), as `kateskit.config_ca=`.
    CaPem(&'a str),
    /// The hex SHA-256 of the server key's SubjectPublicKeyInfo, as
    /// `kateskit.config_tls_sha256=` (64 characters: fits the command line, unlike a PEM).
    TlsSha256(&'a str),
}

/// Renders the chain script.
pub fn render_chain(s: &ChainScript) -> Result<String, ScriptError> {
    check_url("chain endpoint", s.endpoint)?;
    if s.dhcp_attempts == 0 {
        return Err(ScriptError::Invalid(
            "dhcp_attempts must be at least 1".into(),
        ));
    }
    let n = s.dhcp_attempts;
    Ok(format!(
        "#!ipxe\n\
         # KatesKit netboot: wait for the netboot offer, then fetch this machine's boot script.\n\
         set kk-try:int32 0\n\
         :kk-dhcp\n\
         isset ${{filename}} && goto kk-chain ||\n\
         iseq ${{kk-try}} {n} && goto kk-failed ||\n\
         inc kk-try\n\
         echo KatesKit: waiting for the netboot offer (dhcp ${{kk-try}}/{n})\n\
         dhcp || sleep 1\n\
         goto kk-dhcp\n\
         :kk-chain\n\
         chain --replace --autofree {ep}/${{mac:hexhyp}}?uuid=${{uuid:uristring}}&serial=${{serial:uristring}}&arch=${{buildarch:uristring}} || goto kk-failed\n\
         :kk-failed\n\
         echo KatesKit: no netboot offer or boot script; leaving netboot to the next boot device\n\
         sleep 5\n\
         exit 1\n",
        ep = s.endpoint.trim_end_matches('/'),
    ))
}

/// Renders the per-node boot script.
pub fn render_boot(s: &BootScript) -> Result<String, ScriptError> {
    check_token("node name", s.node)?;
    check_url("kernel URL", s.kernel_url)?;
    check_url("initrd URL", s.initrd_url)?;
    check_url("config_url", s.config_url)?;
    if !s.config_url.starts_with("https://") {
        return Err(ScriptError::Invalid(format!(
            "config_url {} must be https://: the node's secrets come through it",
            crate::redact::url(s.config_url)
        )));
    }
    let pin = match s.config_pin {
        ConfigPin::CaPem(pem) => karg("kateskit.config_ca", &pem_one_line(pem)?)?,
        ConfigPin::TlsSha256(h) => {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ScriptError::Invalid(format!(
                    "config_tls_sha256 {h:?} must be 64 hex characters (SHA-256 of the key's SPKI)"
                )));
            }
            karg("kateskit.config_tls_sha256", h)?
        }
    };
    // EFI-stub kernels take the initrd by its iPXE image name (docs/netboot.md).
    let initrd_name = "initrd.img";
    let mut args = vec![
        format!("initrd={initrd_name}"),
        karg("kateskit.config_url", s.config_url)?,
        pin,
    ];
    for a in s.kargs {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (a.as_str(), None),
        };
        args.push(match v {
            Some(v) => karg(k, v)?,
            None => {
                check_key(k)?;
                k.to_string()
            }
        });
    }
    let cmdline = args.join(" ");
    if cmdline.len() >= COMMAND_LINE_SIZE {
        return Err(ScriptError::Invalid(format!(
            "the kernel command line would be {} bytes; Linux keeps only {} on x86 and arm64 \
             (a shorter kernel argument list, or an EC certificate instead of RSA, fits)",
            cmdline.len(),
            COMMAND_LINE_SIZE - 1
        )));
    }
    Ok(format!(
        "#!ipxe\n\
         # KatesKit netboot: boot script of {node}\n\
         echo KatesKit: booting {node}\n\
         kernel {kernel} {args} || goto kk-failed\n\
         initrd --name {initrd_name} {initrd} || goto kk-failed\n\
         boot || goto kk-failed\n\
         :kk-failed\n\
         echo KatesKit: could not load the kernel or initrd of {node}\n\
         sleep 5\n\
         exit 1\n",
        node = s.node,
        kernel = s.kernel_url,
        initrd = s.initrd_url,
        args = cmdline,
    ))
}

fn unsafe_(what: &str, value: &str, why: &'static str) -> ScriptError {
    ScriptError::Unsafe {
        what: what.to_string(),
        value: crate::redact::url(value),
        why,
    }
}

/// Characters no value may hold: iPXE would expand, split or cut them.
fn check_common(what: &str, v: &str) -> Result<(), ScriptError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(unsafe_(
            what,
            v,
            "it holds a control character (a line break ends the command)",
        ));
    }
    if v.contains("${") {
        return Err(unsafe_(
            what,
            v,
            "iPXE expands `${…}` and has no escape for it",
        ));
    }
    if v.contains('"') {
        return Err(unsafe_(
            what,
            v,
            "a double quote cannot be passed through to Linux",
        ));
    }
    if v.contains("  ") || v.starts_with(' ') || v.ends_with(' ') {
        return Err(unsafe_(what, v, "iPXE joins words with single spaces, so repeated, leading or trailing spaces would change"));
    }
    for word in v.split(' ') {
        if matches!(word, "||" | "&&" | ";") || word.starts_with('#') {
            return Err(unsafe_(
                what,
                v,
                "a word `||`, `&&`, `;` or starting with `#` ends an iPXE command",
            ));
        }
    }
    Ok(())
}

/// A value that must stay one iPXE word (URLs, names).
fn check_token(what: &str, v: &str) -> Result<(), ScriptError> {
    check_common(what, v)?;
    if v.is_empty() || v.contains(' ') {
        return Err(unsafe_(what, v, "it must be one non-empty word"));
    }
    if v.starts_with('-') {
        return Err(unsafe_(what, v, "a leading `-` is read as an option"));
    }
    Ok(())
}

fn check_url(what: &str, v: &str) -> Result<(), ScriptError> {
    check_token(what, v)?;
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err(ScriptError::Invalid(format!(
            "{what} {} must be http:// or https://",
            crate::redact::url(v)
        )));
    }
    Ok(())
}

fn check_key(k: &str) -> Result<(), ScriptError> {
    check_token("kernel argument key", k)?;
    if crate::redact::is_secret_karg_key(k) || k.eq_ignore_ascii_case("k3os.token") {
        return Err(ScriptError::Secret { key: k.to_string() });
    }
    Ok(())
}

/// `key=value`, the value double-quoted for Linux when it has spaces.
fn karg(key: &str, value: &str) -> Result<String, ScriptError> {
    check_key(key)?;
    check_common(key, value)?;
    if looks_like_token(value) {
        return Err(ScriptError::Secret {
            key: key.to_string(),
        });
    }
    Ok(if value.contains(' ') {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    })
}

/// A k3s token (`K10<hash>::user:password`, or a bare `user:password` bootstrap token form).
fn looks_like_token(v: &str) -> bool {
    v.starts_with("K10") && v.contains("::") || v.contains("::server:") || v.contains("::node:")
}

/// One certificate PEM with its line breaks as single spaces (the agent reads that form).
fn pem_one_line(pem: &str) -> Result<String, ScriptError> {
    if pem.contains("PRIVATE KEY") {
        return Err(ScriptError::Secret {
            key: "kateskit.config_ca".into(),
        });
    }
    let line = pem.split_whitespace().collect::<Vec<_>>().join(" ");
    if !line.starts_with("-----BEGIN CERTIFICATE-----")
        || !line.ends_with("-----END CERTIFICATE-----")
    {
        return Err(ScriptError::Invalid(
            "config_ca_pem must be a PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(line)
}

#[cfg(test)]
#[path = "ipxe_tests.rs"]
mod tests;
