//! `k3os.k3s_args` (k3s's command line, exec-style) mapped onto NodeConfig fields.

use serde_json::{json, Value};

/// One mapped k3s flag: the NodeConfig path and its value (lists are appended to).
pub struct Arg {
    pub path: &'static str,
    pub value: Value,
    pub list: bool,
    /// The flag as written, for origins.
    pub flag: String,
}

/// The role word, the mapped flags, and every flag with no equivalent (as written).
pub struct Parsed {
    pub role: Option<&'static str>,
    pub mapped: Vec<Arg>,
    pub unmapped: Vec<String>,
}

/// k3s flags with a NodeConfig equivalent: (flags, path, takes a value, list).
const FLAGS: [(&[&str], &str, bool, bool); 13] = [
    (&["--node-label"], "node.labels", true, false),
    (&["--node-taint"], "node.taints", true, true),
    (&["--tls-san"], "k3s.tls_sans", true, true),
    (&["--node-ip", "-i"], "k3s.node_ip", true, false),
    (&["--cluster-init"], "k3s.cluster_init", false, false),
    (&["--disable"], "k3s.disable", true, true),
    (&["--flannel-backend"], "k3s.flannel_backend", true, false),
    (&["--cluster-cidr"], "k3s.cluster_cidr", true, false),
    (&["--service-cidr"], "k3s.service_cidr", true, false),
    (&["--cluster-domain"], "k3s.cluster_domain", true, false),
    (&["--server", "-s"], "k3s.server_url", true, false),
    (&["--token", "-t"], "secrets.token", true, false),
    (&["--kubelet-arg"], "kubelet", true, false),
];

/// Reads k3os's `k3s_args`: an optional leading `server`/`agent`, then flags as `--f v` or
/// `--f=v`. A flag not in the table takes the next word as its value unless that is a flag.
pub fn parse(args: &[String]) -> Parsed {
    let mut p = Parsed {
        role: None,
        mapped: Vec::new(),
        unmapped: Vec::new(),
    };
    let mut it = args.iter().peekable();
    match it.peek().map(|s| s.as_str()) {
        Some("server") => p.role = Some("server"),
        Some("agent") => p.role = Some("agent"),
        _ => {}
    }
    if p.role.is_some() {
        it.next();
    }
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let known = FLAGS
            .iter()
            .find(|(names, ..)| names.contains(&flag.as_str()));
        let takes = known.map_or_else(
            || inline.is_none() && it.peek().is_some_and(|n| !n.starts_with('-')),
            |k| k.2,
        );
        let value = match inline {
            Some(v) => Some(v),
            None if takes => it.next().cloned(),
            None => None,
        };
        let shown = match &value {
            Some(_) if flag == "--token" || flag == "-t" => format!("{flag} <redacted>"),
            Some(v) => format!("{flag} {v}"),
            None => flag.clone(),
        };
        let Some((_, path, _, list)) = known else {
            p.unmapped.push(shown);
            continue;
        };
        let value = match (*path, value) {
            ("k3s.cluster_init", _) => json!(true),
            ("kubelet", Some(v)) => match v.strip_prefix("register-with-taints=") {
                Some(t) => {
                    for t in t.split(',') {
                        p.mapped.push(Arg {
                            path: "node.taints",
                            value: json!(t),
                            list: true,
                            flag: shown.clone(),
                        });
                    }
                    continue;
                }
                None => {
                    p.unmapped.push(shown);
                    continue;
                }
            },
            (_, Some(v)) if *list && v.contains(',') => {
                for part in v.split(',') {
                    p.mapped.push(Arg {
                        path,
                        value: json!(part),
                        list: true,
                        flag: shown.clone(),
                    });
                }
                continue;
            }
            (_, Some(v)) => json!(v),
            (_, None) => {
                p.unmapped.push(format!("{shown} (no value)"));
                continue;
            }
        };
        p.mapped.push(Arg {
            path,
            value,
            list: *list,
            flag: shown,
        });
    }
    p
}
