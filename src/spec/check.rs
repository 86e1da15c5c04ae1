//! `cluster check --json`: the outcome of validating one cluster.toml as data, so editors and
//! CI can place each finding without parsing the text form.

use std::path::Path;

use serde::Serialize;

use super::{Diagnostic, SpecError};

/// Shape documented in docs/cli-cluster.md ("cluster check --json").
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The file that was checked.
    pub file: String,
    /// No finding of severity `error`.
    pub valid: bool,
    /// Nodes declared, when the file is valid.
    pub nodes: Option<usize>,
    /// Every error and warning, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates `path`; only an unreadable file is an error, findings are the report.
pub fn check(path: &Path) -> Result<CheckReport, SpecError> {
    let file = path.display().to_string();
    match super::load(path) {
        Ok(l) => Ok(CheckReport {
            file,
            valid: true,
            nodes: Some(l.spec.nodes.len()),
            diagnostics: l.warnings,
        }),
        Err(SpecError::Invalid(d)) => Ok(CheckReport {
            file,
            valid: false,
            nodes: None,
            diagnostics: d,
        }),
        Err(e) => Err(e),
    }
}
