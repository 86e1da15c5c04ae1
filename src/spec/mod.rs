//! `cluster.toml`: the model, parsing with positions, and validation. Pure: no I/O but reading
//! the file.

mod check;
mod locate;
mod model;
mod validate;
mod validate_auth;
mod validate_lb;
mod validate_nodes;
mod validate_osd;
mod validate_rook;

use std::fmt;
use std::path::{Path, PathBuf};

pub use check::{check, CheckReport};
pub use locate::{line_col, KeyPath, Seg};
pub use model::*;
pub use validate::{is_dns_label, normalize_mac, Finding, Severity};
pub use validate_osd::{osd_disk_problems, OsdProblem};

/// A finding placed in its file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render_all(d: &[Diagnostic]) -> String {
    let errors = d.iter().filter(|d| d.severity == Severity::Error).count();
    let mut s: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    s.push(format!("{errors} error(s) in cluster spec"));
    s.join("\n")
}

impl SpecError {
    /// The located errors (and warnings found alongside), empty for I/O errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid(d) => d,
            SpecError::Read { .. } => &[],
        }
    }
}

/// A spec that passed validation, with the warnings it produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: ClusterSpec,
    pub path: PathBuf,
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates a cluster.toml file.
pub fn load(path: &Path) -> Result<Loaded, SpecError> {
    let src = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (spec, warnings) = parse_str(&src, &path.display().to_string())?;
    Ok(Loaded {
        spec,
        path: path.to_path_buf(),
        warnings,
    })
}

/// Parses and validates `src`; `file` is the name used in diagnostics.
pub fn parse_str(src: &str, file: &str) -> Result<(ClusterSpec, Vec<Diagnostic>), SpecError> {
    let at = |offset: usize, severity, message: String, fix: String| {
        let (line, col) = line_col(src, offset);
        Diagnostic {
            file: file.to_string(),
            line,
            col,
            severity,
            message,
            fix,
        }
    };
    let spec: ClusterSpec = match toml::from_str(src) {
        Ok(s) => s,
        Err(e) => {
            let off = e.span().map(|s| s.start).unwrap_or(0);
            let msg = e.message().trim().to_string();
            let fix = serde_fix(&msg);
            return Err(SpecError::Invalid(vec![at(off, Severity::Error, msg, fix)]));
        }
    };
    let doc = toml_edit::ImDocument::parse(src).map_err(|e| {
        let off = e.span().map(|s| s.start).unwrap_or(0);
        SpecError::Invalid(vec![at(
            off,
            Severity::Error,
            e.message().trim().to_string(),
            String::new(),
        )])
    })?;
    let mut diags: Vec<Diagnostic> = validate::check(&spec)
        .into_iter()
        .map(|f| {
            let off = locate::span_of(&doc, &f.path).map(|s| s.start).unwrap_or(0);
            at(off, f.severity, f.message, f.fix)
        })
        .collect();
    diags.sort_by_key(|d| (d.line, d.col));
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(SpecError::Invalid(diags));
    }
    Ok((spec, diags))
}

/// A hint for serde's own messages (unknown keys, bad variants, missing fields, wrong types).
fn serde_fix(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        "remove the key or fix its spelling; the keys this table accepts are listed above".into()
    } else if msg.starts_with("unknown variant") {
        "use one of the listed values".into()
    } else if msg.starts_with("missing field") {
        "add the field to this table".into()
    } else if msg.starts_with("invalid type") {
        "write a value of the expected type".into()
    } else {
        "fix the TOML syntax at this position".into()
    }
}

impl ClusterSpec {
    pub fn servers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role == Role::Server)
    }
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

impl NodeSpec {
    /// The node's primary IP: the first static address, if any.
    pub fn primary_ip(&self) -> Option<String> {
        let n = self.network.as_ref()?;
        let a = n.addresses.first()?;
        Some(a.split('/').next().unwrap_or(a).to_string())
    }
}

/// The commented cluster.toml that `kateskit cluster init` writes; `@NAME@` is the cluster name.
pub const TEMPLATE: &str = include_str!("template.toml");
