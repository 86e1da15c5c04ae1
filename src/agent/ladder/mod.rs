//! The config ladder, lowest priority first: image defaults < config.d < embed area < config
//! drive < kernel command line < KATESKIT_VALUE_* files < config_url (docs/agent.md "Merge
//! rules"), each source limited to the keys the trust table allows it (docs/agent.md "Trust
//! model", [`crate::agent::ladder::trust`]).

pub mod argsplit;
pub mod cmdline;
pub mod defaults;
pub mod drive;
pub mod effective;
pub mod embed;
pub mod embed_part;
pub mod fetch;
pub mod flat;
pub mod identity;
pub mod image_defaults;
pub mod k3os;
pub mod kernel_secrets;
pub mod media_record;
pub mod merge;
pub mod nocloud;
pub mod owner_pin;
pub mod pin;
pub mod settings;
pub mod trust;
pub mod unconfigured;
pub mod url;
pub mod url_cache;

use crate::agent::ladder::effective::agent_shape;
use crate::agent::ladder::merge::{Layer, Merged};
use crate::agent::ladder::trust::{DrivePolicy, Source, When};
use crate::agent::phases::network;
use crate::agent::AgentEnv;

/// The local rungs merged, plus notes for the report.
#[derive(Debug, Clone)]
pub struct Ladder {
    pub merged: Merged,
    /// The sources that contributed, in merge order.
    pub used: Vec<String>,
    pub warnings: Vec<String>,
    /// Which boot this is and whether the owner stamped the node: what the drive and
    /// config_url may set.
    pub when: When,
    pub policy: DrivePolicy,
    /// The config_url and a pin (of its body, or of its server's TLS key on an https:// URL)
    /// both come from the owner's sources.
    pub owner_pinned: bool,
    /// Secret keys (never values) set on the running kernel's command line, which every pod
    /// can read: refused on servers, a warning on agents (`kernel_secrets`).
    pub kernel_secrets: Vec<String>,
    /// This is a first boot (no identity record yet).
    pub first_boot: bool,
    /// What removable media gave this run, as the trust table let them: recorded with the
    /// identity on a first boot ([`media_record`](crate::agent::ladder::media_record)).
    pub media: Vec<crate::agent::ladder::media_record::MediaLayer>,
    /// Set when the image carries the cluster's nodes and none has this machine's MACs.
    pub unmatched_image: Option<String>,
}

fn push(l: &mut Ladder, name: &str, layer: Option<Layer>) {
    if let Some(layer) = layer.filter(|l| !l.is_empty()) {
        l.merged.push(&layer);
        l.used.push(name.to_string());
    }
}

/// Keeps a removable medium's (trust-filtered) layer for the media record.
fn remember(l: &mut Ladder, rung: &str, desc: &str, layer: Option<&Layer>) {
    if let Some(layer) = layer.filter(|x| !x.is_empty()) {
        l.media
            .push(crate::agent::ladder::media_record::MediaLayer {
                rung: rung.into(),
                desc: desc.into(),
                layer: layer.clone(),
            });
    }
}

/// `layer` limited to what `src` may set now; a warning names every dropped key (never a
/// value) and why.
fn trusted(l: &mut Ladder, src: Source, desc: &str, layer: Layer) -> Layer {
    let (kept, dropped) = trust::filter(&layer, src, l.when, l.policy);
    for class in [trust::KeyClass::Protected, trust::KeyClass::OwnerOnly] {
        let mut keys: Vec<&str> = dropped
            .iter()
            .filter(|p| trust::key_class(p) == class)
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        if keys.is_empty() {
            continue;
        }
        let why = match class {
            trust::KeyClass::Protected => format!(
                "a {} never sets secrets, k3s.server_url(s), SSH keys, write_files, storage, bundle \
                 or sysctls on a stamped node (the owner's embed area, image defaults and kernel command \
                 line do){}",
                src.name(),
                if src == Source::ConfigUrl {
                    "; set both agent.config_url and agent.config_sha256 (or, on https://, \
                     agent.config_tls_sha256) in the owner's config to let a config_url set them"
                } else {
                    ""
                }
            ),
            _ => "only the owner's config (kernel command line, embed area, image defaults) \
                  decides when config drives are read"
                .to_string(),
        };
        l.warnings
            .push(format!("{desc}: ignored {}: {why}", keys.join(", ")));
    }
    kept
}

/// `agent.config_drive` as the owner's layers set it.
fn policy(m: &Merged) -> Result<DrivePolicy, String> {
    let Some(v) = merge::get(&m.tree, "agent.config_drive") else {
        return Ok(DrivePolicy::default());
    };
    let src = m.source_of("agent.config_drive").unwrap_or("config");
    v.as_str().and_then(DrivePolicy::parse).ok_or_else(|| {
        format!(
            "{src}: agent.config_drive: {v} is not one of {}",
            DrivePolicy::VALUES.join(", ")
        )
    })
}

/// The kernel command line layers: `ip=` first, then `kateskit.*` (explicit keys win).
pub fn cmdline_layers(
    line: &str,
    src: &str,
    shape: &serde_json::Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<Layer>, String> {
    let args = cmdline::split(line, src).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (k, v) in &args {
        if k == "ip" {
            out.push(network::ip_arg(v.as_deref().unwrap_or(""), src)?);
        }
    }
    // `k3os.*` arguments, below the `kateskit.*` ones.
    let (k3os, notes) = crate::agent::ladder::k3os::kargs_layer(&args, src)?;
    warnings.extend(notes);
    out.extend(k3os);
    let mut l = cmdline::layer(&args, src).map_err(|e| e.to_string())?;
    cmdline::coerce(&mut l.tree, Some(shape));
    out.push(l);
    Ok(out)
}

/// The owner's rungs and the embed area, read before deciding what else may be read.
struct Read {
    img: crate::agent::ladder::image_defaults::ImageDefaults,
    /// `/etc/kateskit/config.d` (docs/agent.md "Flat-file config").
    config_d: Option<Layer>,
    /// `KATESKIT_VALUE_*` files.
    values: Option<Layer>,
    embed: Option<crate::agent::ladder::embed::EmbedFound>,
    cmd: Vec<Layer>,
    kargs: Vec<Layer>,
}

fn read_local(env: &AgentEnv, warnings: &mut Vec<String>) -> Result<Read, String> {
    let img = crate::agent::ladder::image_defaults::read(env)?;
    let config_d = flat::input::config_d(&env.root).map_err(|e| e.to_string())?;
    let values = flat::env::from_process(env).map_err(|e| e.to_string())?;
    let (embed, notes) = crate::agent::ladder::embed::read(env, img.embed_partuuid.as_deref())?;
    warnings.extend(notes);
    // The kernel command line is typed by the shape of the file rungs below it.
    let mut shape = agent_shape();
    for layer in img
        .layer
        .iter()
        .chain(&config_d)
        .chain(embed.iter().filter_map(|e| e.layer.as_ref()))
    {
        merge::merge_into(&mut shape, &layer.tree);
    }
    let src = env.cmdline.display().to_string();
    let cmd = match std::fs::read_to_string(&env.cmdline) {
        Ok(line) => cmdline_layers(&line, &src, &shape, warnings)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!("kernel command line {src} not found; skipped"));
            Vec::new()
        }
        Err(e) => return Err(format!("kernel command line {src}: {e}")),
    };
    // Kernel arguments stamped into the embed area count as appended to the command line.
    let kargs = match embed.as_ref().filter(|e| !e.kargs.is_empty()) {
        Some(e) => {
            let src = format!("{} (kernel arguments)", e.desc);
            cmdline_layers(&e.kargs.join(" "), &src, &shape, warnings)?
        }
        None => Vec::new(),
    };
    Ok(Read {
        img,
        config_d,
        values,
        embed,
        cmd,
        kargs,
    })
}

/// Reads every local rung (no network). The owner's rungs are read first: they decide whether
/// the node is stamped and whether a config drive is read at all.
pub fn local(env: &AgentEnv) -> Result<Ladder, String> {
    let first_boot = !identity::exists(env);
    let mut warnings = Vec::new();
    let Read {
        img,
        config_d,
        values,
        embed,
        cmd,
        kargs,
    } = read_local(env, &mut warnings)?;
    // An embed partition on another disk counts as removable media, not as the owner's.
    let (own, foreign) = match embed {
        Some(e) if e.foreign => (None, Some((e, kargs))),
        Some(e) => (Some((e, kargs)), None),
        None => (None, None),
    };
    let mut owner = Merged::new();
    let own_embed = own.iter().filter_map(|(e, _)| e.layer.as_ref());
    let own_kargs = own.iter().flat_map(|(_, k)| k);
    for layer in img
        .layer
        .iter()
        .chain(&config_d)
        .chain(own_embed)
        .chain(&cmd)
        .chain(own_kargs)
        .chain(&values)
    {
        owner.push(layer);
    }
    let stamped = img.chose_node
        || own
            .as_ref()
            .is_some_and(|(e, _)| e.layer.is_some() || !e.kargs.is_empty());
    let mut l = Ladder {
        merged: Merged::new(),
        used: Vec::new(),
        warnings,
        when: When::new(first_boot, stamped),
        policy: policy(&owner)?,
        owner_pinned: false,
        first_boot,
        media: Vec::new(),
        kernel_secrets: cmd
            .iter()
            .flat_map(|layer| crate::agent::ladder::kernel_secrets::secret_paths(&layer.tree))
            .collect(),
        unmatched_image: img.unmatched.clone(),
    };
    let read_media = |l: &mut Ladder, desc: &str| match l.policy {
        DrivePolicy::Never => {
            l.warnings.push(format!(
                "{desc} ignored: the owner's config sets agent.config_drive = \"never\""
            ));
            false
        }
        DrivePolicy::FirstBoot if !first_boot => {
            l.warnings.push(format!("{desc} ignored: removable media are read on the first boot only, and this node's identity is recorded in /{} (set agent.config_drive = \"always\" in the owner's config to read them on every boot)", identity::IDENTITY));
            false
        }
        _ => true,
    };
    push(&mut l, "image defaults", img.layer);
    let config_d = config_d.map(|x| trusted(&mut l, Source::ConfigD, "config.d", x));
    push(&mut l, "config.d", config_d);
    let (own_embed, own_kargs) = own.map(|(e, k)| (e.layer, k)).unwrap_or_default();
    push(&mut l, "embed area", own_embed);
    let mut foreign_kargs = Vec::new();
    if let Some((e, k)) = foreign.filter(|(e, _)| read_media(&mut l, &e.desc)) {
        let layer = e
            .layer
            .map(|layer| trusted(&mut l, Source::ConfigDrive, &e.desc, layer));
        remember(&mut l, "embed area", &e.desc, layer.as_ref());
        push(&mut l, "embed area", layer);
        foreign_kargs = k
            .into_iter()
            .map(|layer| trusted(&mut l, Source::ConfigDrive, &e.desc, layer))
            .collect();
        for layer in &foreign_kargs {
            remember(&mut l, "kernel command line", &e.desc, Some(layer));
        }
    }
    if let Some(found) = drive::locate(env).filter(|f| read_media(&mut l, &f.desc())) {
        let desc = found.desc();
        let (layer, warnings) = drive::read(env, &found)?;
        l.warnings.extend(warnings);
        // Its flat config tree is entered in the trust table as its own source.
        let tree_prefix = format!("{desc} {}/", flat::input::DRIVE_DIR);
        let (layer, flat_tree) = flat::input::split_off(layer, &tree_prefix);
        // A k3os config.yaml on the drive is entered in the trust table as its own source.
        let k3os = format!("{desc} {}", crate::agent::ladder::k3os::DRIVE_FILE);
        let src = match &layer {
            Some(x) if x.origin.values().any(|o| o.starts_with(&k3os)) => {
                trust::k3os_on(Source::ConfigDrive)
            }
            _ => Source::ConfigDrive,
        };
        let layer = layer.map(|layer| trusted(&mut l, src, &desc, layer));
        remember(&mut l, "config drive", &desc, layer.as_ref());
        push(&mut l, "config drive", layer);
        let flat_tree = flat_tree.map(|x| trusted(&mut l, Source::DriveTree, &desc, x));
        remember(&mut l, "config drive", &desc, flat_tree.as_ref());
        push(&mut l, "config drive", flat_tree);
    }
    // Later boots: what the media gave on the first boot stands in for them.
    if !first_boot && l.policy == DrivePolicy::FirstBoot {
        let when = l.when;
        // Judged as on the first boot, but with today's stamping: a node stamped since then
        // takes no protected key from its old drive.
        l.when = When::new(true, stamped);
        for m in crate::agent::ladder::media_record::load(env)? {
            let layer = trusted(&mut l, Source::ConfigDrive, &m.desc, m.layer);
            if m.rung == "kernel command line" {
                foreign_kargs.push(layer);
            } else {
                push(&mut l, &m.rung, Some(layer));
            }
        }
        l.when = when;
    }
    for layer in cmd.into_iter().chain(own_kargs).chain(foreign_kargs) {
        push(&mut l, "kernel command line", Some(layer));
    }
    let values = values.map(|x| trusted(&mut l, Source::ValueFiles, "environment", x));
    push(&mut l, "KATESKIT_VALUE_* files", values);
    l.owner_pinned = owner_pin::owner_pinned(&owner.tree, &l.merged.tree);
    l.used.dedup();
    Ok(l)
}
