//! The codec's unit tests: path encoding, typing by schema, and render/parse as inverses.

use serde_json::json;

use super::env::{keys_of_var, var_name};
use super::*;

fn keys(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

#[test]
fn keys_encode_to_file_names_and_back() {
    for key in [
        "hostname",
        "topology.kubernetes.io/zone",
        "50%",
        ".hidden",
        "a.b",
        "-x_y",
    ] {
        let seg = encode_key(key).unwrap();
        assert!(!seg.contains('/') && !seg.starts_with('.'), "{seg}");
        assert_eq!(decode_key(&seg).unwrap(), key);
    }
    assert_eq!(encode_key("a/b%").unwrap(), "a%2Fb%25");
    assert_eq!(encode_key(""), None);
    let e = decode_key("a%41").unwrap_err();
    assert!(e.contains("`%41`") && e.contains("%2F"), "{e}");
    assert_eq!(
        keys_of_tree("node.labels[topology.kubernetes.io/zone]"),
        keys(&["node", "labels", "topology.kubernetes.io/zone"])
    );
    let k = keys(&["node", "labels", "topology.kubernetes.io/zone"]);
    assert_eq!(flat_path(&k), "node/labels/topology.kubernetes.io%2Fzone");
    assert_eq!(keys_of_flat(&flat_path(&k)).unwrap(), k);
    assert_eq!(keys_of_tree(&tree_path(&k)), k);
}

#[test]
fn kinds_come_from_the_schema() {
    let k = |p: &[&str]| kind_at(&keys(p));
    assert_eq!(k(&["agent", "ready_timeout_s"]), Ok(Kind::Int));
    assert_eq!(k(&["host", "hostname"]), Ok(Kind::Str));
    assert_eq!(k(&["agent", "verify_join"]), Ok(Kind::Bool));
    assert_eq!(k(&["node", "role"]), Ok(Kind::Str));
    assert_eq!(k(&["agent", "config_drive"]), Ok(Kind::Str));
    assert_eq!(k(&["node", "macs"]), Ok(Kind::List(Box::new(Kind::Str))));
    assert_eq!(k(&["node", "labels"]), Ok(Kind::Object));
    assert_eq!(k(&["node", "labels", "a.b/c"]), Ok(Kind::Str));
    assert_eq!(
        k(&["agent", "sysctls", "net.ipv4.ip_forward"]),
        Ok(Kind::Str)
    );
    assert_eq!(
        k(&["agent", "write_files"]),
        Ok(Kind::List(Box::new(Kind::Object)))
    );
    assert_eq!(k(&["k3s", "server_url"]), Ok(Kind::Str));
    assert_eq!(k(&["node", "install_disk", "min_size_gib"]), Ok(Kind::Int));
    assert_eq!(k(&["secrets", "token"]), Ok(Kind::Str));
    assert_eq!(k(&["bundle", "traefik", "enable"]), Ok(Kind::Bool));
    assert_eq!(k(&["bundle", "traefik", "values", "a", "b"]), Ok(Kind::Any));
    let e = k(&["host", "hostnam"]).unwrap_err();
    assert_eq!(e.path, "host/hostnam");
    assert!(e.why.contains("hostname, ssh_authorized_keys"), "{e}");
    let e = k(&["host", "hostname", "x"]).unwrap_err();
    assert!(e.why.contains("single value"), "{e}");
    assert!(k(&["nope"]).unwrap_err().why.contains("agent"));
}

#[test]
fn values_render_and_parse_back() {
    let cases = [
        (Kind::Str, json!("300")),
        (Kind::Str, json!("two\nlines\n")),
        (Kind::Str, json!("")),
        (Kind::Int, json!(300)),
        (Kind::Bool, json!(false)),
        (Kind::List(Box::new(Kind::Str)), json!(["a b", "c"])),
        (Kind::List(Box::new(Kind::Str)), json!([])),
        (
            Kind::List(Box::new(Kind::Object)),
            json!([{"path": "/x", "content": "y"}]),
        ),
        (Kind::Object, json!({})),
        (Kind::Any, json!("true")),
        (Kind::Any, json!("plain text")),
        (Kind::Any, json!("\"quoted\"")),
        (Kind::Any, json!(true)),
        (Kind::Any, json!([1, "a"])),
        (Kind::Any, json!(null)),
    ];
    for (kind, v) in cases {
        let text = render(&kind, &v).unwrap();
        assert!(text.ends_with('\n') || v == json!([]), "{text:?}");
        assert_eq!(parse(&kind, &text, false).unwrap(), v, "{kind:?} {text:?}");
    }
    assert_eq!(render(&Kind::Str, &json!(null)), None);
    // Written by hand: no trailing newline, spaces around a number.
    assert_eq!(parse(&Kind::Int, " 42 ", false).unwrap(), json!(42));
    assert_eq!(parse(&Kind::Str, "h1", false).unwrap(), json!("h1"));
}

#[test]
fn bad_values_say_where_and_how_to_fix() {
    let e = parse(&Kind::Int, "abc\n", false).unwrap_err();
    assert_eq!(e.line, None);
    assert!(e.msg.contains("`abc` is not a whole number"), "{e:?}");
    let e = parse(&Kind::Bool, "yes", false).unwrap_err();
    assert!(e.msg.contains("write true or false"), "{e:?}");
    let list = Kind::List(Box::new(Kind::Object));
    let e = parse(&list, "{}\nnot json\n", false).unwrap_err();
    assert_eq!(e.line, Some(2));
    let e = parse(&Kind::Int, "LEAKMARKER", true).unwrap_err();
    assert!(!e.msg.contains("LEAKMARKER"), "{e:?}");
}

#[test]
fn variable_names_are_unambiguous() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["agent", "ready_timeout_s"],
            "KATESKIT_VALUE_AGENT__READY_TIMEOUT_S",
        ),
        (&["host", "hostname"], "KATESKIT_VALUE_HOST__HOSTNAME"),
        (
            &["node", "labels", "topology.kubernetes.io/zone"],
            "KATESKIT_VALUE_NODE__LABELS__TOPOLOGYx2eKUBERNETESx2eIOx2fZONE",
        ),
        (
            &["node", "labels", "a_"],
            "KATESKIT_VALUE_NODE__LABELS__Ax5f",
        ),
        (
            &["node", "labels", "_a"],
            "KATESKIT_VALUE_NODE__LABELS__x5fA",
        ),
        (
            &["node", "labels", "Ab-c%d__e"],
            "KATESKIT_VALUE_NODE__LABELS__x41Bx2dCx25Dx5fx5fE",
        ),
    ];
    for (k, name) in cases {
        let k = keys(k);
        assert_eq!(var_name(&k), name);
        assert_eq!(keys_of_var(name).unwrap(), k);
    }
    // `a_` + `b` and `a` + `_b` would both be A___B without the escapes.
    assert_ne!(
        var_name(&keys(&["x", "a_", "b"])),
        var_name(&keys(&["x", "a", "_b"]))
    );
    for bad in [
        "KATESKIT_VALUE_",
        "KATESKIT_VALUE_A___B",
        "KATESKIT_VALUE_host__hostname",
        "KATESKIT_VALUE_Ax2",
    ] {
        assert!(keys_of_var(bad).is_err(), "{bad}");
    }
    let e = keys_of_var("KATESKIT_VALUE_Ax5fB").unwrap_err();
    assert!(e.contains("KATESKIT_VALUE_A_B"), "{e}");
}
