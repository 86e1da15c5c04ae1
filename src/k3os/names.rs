//! k3os's loose key names (`FuzzyNames` in k3os `pkg/config/rename.go` and Go's
//! case-insensitive JSON field match): every field is also accepted lower-cased, in
//! snake_case, in singular form (a trailing `s` or `es` dropped), and, as a KatesKit
//! extension, with dashes for underscores.

/// `ToYAMLKey` of rancher/mapper: `sshAuthorizedKeys` → `ssh_authorized_keys`.
pub fn snake(camel: &str) -> String {
    let mut out = String::new();
    let mut cap = false;
    for (i, c) in camel.chars().enumerate() {
        if i == 0 {
            cap = c.is_uppercase();
            out.extend(c.to_lowercase());
        } else if c.is_uppercase() {
            if !cap {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            cap = false;
            out.push(c);
        }
    }
    out
}

/// The spellings k3os maps to field `camel`.
fn spellings(camel: &str) -> Vec<String> {
    let mut bases = vec![camel.to_string()];
    if camel.len() > 1 {
        if let Some(b) = camel.strip_suffix('s') {
            bases.push(b.to_string());
        }
    }
    if camel.len() > 2 {
        if let Some(b) = camel.strip_suffix("es") {
            bases.push(b.to_string());
        }
    }
    let mut out = Vec::new();
    for b in bases {
        out.push(b.to_lowercase());
        out.push(snake(&b));
        out.push(snake(&b).to_lowercase());
    }
    out
}

/// The field (camelCase, as k3os's Go JSON tags spell it) that key `key` names, if any.
pub fn canonical<'a>(key: &str, fields: &[&'a str]) -> Option<&'a str> {
    let dashed = key.replace('-', "_");
    fields.iter().copied().find(|f| {
        key.eq_ignore_ascii_case(f)
            || spellings(f)
                .iter()
                .any(|s| s == key || (key.contains('-') && *s == dashed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K3OS: [&str; 4] = [
        "sshAuthorizedKeys",
        "dnsNameservers",
        "k3sArgs",
        "dataSources",
    ];

    #[test]
    fn snake_case_follows_rancher_mapper() {
        assert_eq!(snake("sshAuthorizedKeys"), "ssh_authorized_keys");
        assert_eq!(snake("k3sArgs"), "k3s_args");
        assert_eq!(snake("forceEfi"), "force_efi");
        assert_eq!(snake("URLs"), "urls");
    }

    #[test]
    fn singular_plural_camel_snake_lower_and_dash_are_one_field() {
        for k in [
            "sshAuthorizedKeys",
            "ssh_authorized_keys",
            "ssh_authorized_key",
            "sshauthorizedkeys",
            "sshauthorizedkey",
            "SSHAuthorizedKeys",
            "ssh-authorized-keys",
        ] {
            assert_eq!(canonical(k, &K3OS), Some("sshAuthorizedKeys"), "{k}");
        }
        for k in ["dns_nameserver", "dnsnameserver", "dns_nameservers"] {
            assert_eq!(canonical(k, &K3OS), Some("dnsNameservers"), "{k}");
        }
        for k in ["datasource", "data_source", "dataSources", "data_sources"] {
            assert_eq!(canonical(k, &K3OS), Some("dataSources"), "{k}");
        }
        assert_eq!(canonical("k3s_args", &K3OS), Some("k3sArgs"));
        assert_eq!(canonical("k3s_arg", &K3OS), Some("k3sArgs"));
    }

    #[test]
    fn other_names_do_not_match() {
        for k in [
            "ssh_keys",
            "dns",
            "args",
            "k3s",
            "data",
            "sshAuthorizedKey_",
        ] {
            assert_eq!(canonical(k, &K3OS), None, "{k}");
        }
        // k3os maps the camelCase singular only through its lower-cased form.
        assert_eq!(canonical("sshAuthorizedKey", &K3OS), None);
    }
}
