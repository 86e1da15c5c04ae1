//! Helpers shared by the flat-file config tests (agent_flat_config, agent_flat_drive).

use std::path::Path;

use super::machine::{machine, token, SERVER};
use super::Node;

/// Every file under `dir`, by relative path, with its content.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// A machine joining with the role's essentials on the command line and `extra` after them.
pub fn joining(extra: &str) -> Node {
    let n = machine();
    n.set_cmdline(&format!(
        "console=ttyS0 kateskit.role=agent kateskit.server={SERVER} kateskit.token={} \
         kateskit.agent.verify_join=false {extra}",
        token()
    ));
    n
}
