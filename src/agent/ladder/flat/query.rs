//! `kateskit agent config get|list`: one effective value, or the paths with their sources,
//! from the tree the last run wrote (`/run/kateskit/config`, `/run/kateskit/sources`).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::{flat_path, keys_of_flat, keys_of_tree, kind_at, parse, rel_path, tree_path};
use crate::agent::phases::report::{CONFIG_DIR, SOURCES};
use crate::agent::AgentEnv;
use crate::fsutil::{self, ReadError};

/// One value of the last run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Got {
    pub path: String,
    /// Typed by the schema, as the reader would read the file.
    pub value: Value,
    /// The file's content as written.
    #[serde(skip)]
    pub text: String,
    pub source: Option<String>,
}

/// A path of the last run's tree and the source that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub path: String,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no effective config in {}: `kateskit agent run` has not written one on this boot", dir.display())]
    NoRun { dir: PathBuf },
    #[error("`{path}`: {why}; write paths as the tree does, e.g. host/hostname")]
    BadPath { path: String, why: String },
    #[error("{0}; `kateskit agent config list` shows the paths the last run wrote")]
    Unknown(#[from] super::UnknownPath),
    #[error("`{path}` is not set in the last run: no source set it and it has no default")]
    Unset { path: String },
    #[error("`{path}`: secrets are never written to the tree, so they cannot be queried")]
    Secret { path: String },
    #[error("`{path}` holds several values; `kateskit agent config list {path}` shows them")]
    Group { path: String },
    #[error("{path}: {msg} (the file does not hold a value of its type)")]
    Value { path: String, msg: String },
    #[error(transparent)]
    Read(#[from] ReadError),
}

fn config_dir(env: &AgentEnv) -> Result<PathBuf, QueryError> {
    let dir = env.run_dir().join(CONFIG_DIR);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(QueryError::NoRun { dir })
    }
}

fn sources(env: &AgentEnv) -> Result<Vec<Entry>, QueryError> {
    let dir = config_dir(env)?;
    let file = env.run_dir().join(SOURCES);
    let text =
        fsutil::read_nofollow(&file, fsutil::DRIVE_FILE_MAX)?.ok_or(QueryError::NoRun { dir })?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(p, s)| Entry {
            path: flat_path(&keys_of_tree(p)),
            source: s.to_string(),
        })
        .collect())
}

/// The effective value at the flat path `path`.
pub fn get(env: &AgentEnv, path: &str) -> Result<Got, QueryError> {
    let bad = |why| QueryError::BadPath {
        path: path.to_string(),
        why,
    };
    let keys = keys_of_flat(path).map_err(bad)?;
    let kind = kind_at(&keys)?;
    let dir = config_dir(env)?;
    let shown = flat_path(&keys);
    if keys[0] == crate::redact::SECRETS_KEY {
        return Err(QueryError::Secret { path: shown });
    }
    let rel = rel_path(&keys).ok_or_else(|| bad("a key is empty".into()))?;
    if dir.join(&rel).is_dir() {
        return Err(QueryError::Group { path: shown });
    }
    let rel = rel.to_string_lossy().into_owned();
    let bytes = fsutil::read_beneath(&dir, &rel, fsutil::DRIVE_FILE_MAX)?.ok_or_else(|| {
        QueryError::Unset {
            path: shown.clone(),
        }
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let value = parse(&kind, &text, false).map_err(|b| QueryError::Value {
        path: shown.clone(),
        msg: b.msg,
    })?;
    let tp = tree_path(&keys);
    let source = sources(env)?
        .into_iter()
        .find(|e| keys_of_flat(&e.path).is_ok_and(|k| tree_path(&k) == tp))
        .map(|e| e.source);
    Ok(Got {
        path: shown,
        value,
        text,
        source,
    })
}

/// Every path of the last run's tree with its source; with `under`, only that path and the
/// paths below it.
pub fn list(env: &AgentEnv, under: Option<&str>) -> Result<Vec<Entry>, QueryError> {
    let all = sources(env)?;
    let Some(under) = under else {
        return Ok(all);
    };
    let keys = keys_of_flat(under).map_err(|why| QueryError::BadPath {
        path: under.to_string(),
        why,
    })?;
    kind_at(&keys)?;
    Ok(all
        .into_iter()
        .filter(|e| {
            keys_of_flat(&e.path).is_ok_and(|k| k.len() >= keys.len() && k[..keys.len()] == keys)
        })
        .collect())
}
