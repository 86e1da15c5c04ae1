//! `k3os.*` kernel arguments, read as k3os reads `/proc/cmdline`: dotted keys, a repeated key
//! makes a list, `key[name]=value` sets one map entry, a bare key means `true`.

use serde_json::{Map, Value};

use super::map::{Mapped, Unmapped};
use super::K3osError;

/// Keys k3os's init scripts read from the command line, not its config.
const BOOT_KEYS: [(&str, &str); 3] = [
    ("k3os.mode", "k3os's boot mode; a KatesKit image boots the installed system, or the live ISO to run `kateskit install`"),
    ("k3os.fallback_mode", "k3os's boot mode; a KatesKit image boots the installed system, or the live ISO to run `kateskit install`"),
    ("k3os.debug", "use the agent's own logging (`kateskit.agent.debug` is not needed: the journal has it)"),
];

/// The `k3os.*` arguments among `args` (split as Linux splits them) mapped like a
/// config.yaml; `None` when there are none. `src` names the command line.
pub fn map(args: &[(String, Option<String>)], src: &str) -> Result<Option<Mapped>, K3osError> {
    let mut root = Map::new();
    let mut any = false;
    let mut boot = Vec::new();
    for (k, v) in args {
        if !k.starts_with("k3os.") {
            continue;
        }
        any = true;
        if let Some((_, why)) = BOOT_KEYS.iter().find(|(b, _)| b == k) {
            boot.push(Unmapped {
                key: k.clone(),
                source: src.into(),
                reason: why.to_string(),
            });
            continue;
        }
        let value = Value::String(v.clone().unwrap_or_else(|| "true".into()));
        put(&mut root, &segments(k), value).map_err(|expected| K3osError::Shape {
            src: src.into(),
            key: k.clone(),
            expected,
        })?;
    }
    if !any {
        return Ok(None);
    }
    // Values never appear in sources: the token and passwords are among them.
    let desc = format!("kernel command line {src} (k3os.* arguments)");
    let cfg = super::config::from_value(Value::Object(root), &desc)?;
    let mut m = super::map::map(&cfg, &desc)?;
    for u in &mut boot {
        u.source = desc.clone();
    }
    m.unmapped.splice(0..0, boot);
    Ok(Some(m))
}

/// `k3os.sysctl[kernel.printk]` → `k3os`, `sysctl`, `kernel.printk`.
fn segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => out.push(std::mem::take(&mut cur)),
            '[' => {
                out.push(std::mem::take(&mut cur));
                cur = chars.by_ref().take_while(|&c| c != ']').collect();
            }
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

/// Sets `path` to `v`; a second value for the same key makes a list, as in k3os.
fn put(root: &mut Map<String, Value>, path: &[String], v: Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("a key")?;
    let mut cur = root;
    for p in parents {
        let next = cur
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = next
            .as_object_mut()
            .ok_or_else(|| format!("`{p}` set both as a value and as a parent of other keys"))?;
    }
    match cur.get_mut(last) {
        None => {
            cur.insert(last.clone(), v);
        }
        Some(Value::Array(a)) => a.push(v),
        Some(Value::Object(_)) => {
            return Err(format!(
                "`{last}` set both as a value and as a parent of other keys"
            ))
        }
        Some(old) => *old = Value::Array(vec![old.take(), v]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(line: &str) -> Vec<(String, Option<String>)> {
        crate::agent::ladder::cmdline::split(line, "t").unwrap()
    }

    #[test]
    fn kernel_arguments_map_like_config_yaml() {
        let m = map(&args(r#"quiet k3os.server_url=https://s:6443 k3os.token=K10x::node:pw k3os.dns_nameserver=1.1.1.1 k3os.dns_nameserver=8.8.8.8 k3os.sysctl[kernel.printk]="4 4 1 7" k3os.password=rancher k3os.mode=live"#), "/proc/cmdline").unwrap().unwrap();
        let t = &m.layer.tree;
        assert_eq!(t["k3s"]["server_url"], "https://s:6443");
        assert_eq!(t["secrets"]["token"], "K10x::node:pw");
        assert_eq!(t["node"]["role"], "agent");
        assert_eq!(t["agent"]["sysctls"], json!({"kernel.printk": "4 4 1 7"}));
        let keys: Vec<&str> = m.unmapped.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["k3os.mode", "k3os.dns_nameservers", "k3os.password"]);
        let shown = format!("{:?}", m.unmapped) + &format!("{:?}", m.layer.origin);
        assert!(
            !shown.contains("pw") && !shown.contains("rancher"),
            "{shown}"
        );
        assert!(map(&args("quiet kateskit.role=agent"), "x")
            .unwrap()
            .is_none());
    }
}
