//! Nix evaluation tier for `services.kateskit-netboot` (modules/netboot-server.nix), evaluated
//! from the file with the strict stand-in `lib` (tests/nixtool/modlib.nix) and the option
//! defaults read from the module's own declarations, so a case sees the unit, command line and
//! firewall a configuration gets. The netboot set itself: nix_netboot_image.rs.

mod nixtool;

use serde_json::{json, Value};

use nixtool::eval_json;

/// The module under a lib whose mkOption keeps its declaration (so `default` can be read),
/// nixpkgs' `utils.escapeSystemdExecArg`/`escapeSystemdPath` (nixos/lib/utils.nix) and
/// `pkgs.ipxe` as a fixed path.
const MODULE: &str = r#"let
  base = import ./tests/nixtool/modlib.nix;
  lib = base // {
    mkOption = o: o;
    mkEnableOption = d: { default = false; };
    literalExpression = x: x;
    types = { str = "str"; bool = "bool"; path = "path"; package = "package"; port = "port";
      enum = v: "enum"; nullOr = t: t; listOf = t: t; submodule = m: m; ints.positive = "int"; };
  };
  utils = {
    escapeSystemdExecArg = s: builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
    escapeSystemdPath = s: builtins.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] (base.removePrefix "/" s);
  };
  pkgs = { ipxe = "/ipxe"; };
  load = cfg: import ./modules/netboot-server.nix { inherit lib pkgs utils;
    config = { kateskit.package = "/kk"; services.kateskit-netboot = cfg; }; };
  decls = (load { }).options.services.kateskit-netboot;
  defaults = builtins.mapAttrs (n: o: o.default)
    (removeAttrs decls (builtins.filter (n: !(decls.${n} ? default)) (builtins.attrNames decls)));
  eval = settings: base.resolve [ (load (defaults // settings)).config ];
in"#;

/// Settings every case starts from: what a site must give.
const BASE: &str = r#"{ enable = true; interface = "eth1"; cluster = "/var/lib/kateskit/rack";
  artifacts = { outPath = "/nix/store/aaaa-kateskit-netboot"; kargs = [ "init=/nix/store/bbbb-system/init" "console=ttyS0,115200" ]; }; }"#;

fn eval(settings: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!("{MODULE} eval ({BASE} // {settings})"),
    )
}

/// An ExecStart line as systemd splits it: bare words, and `"…"` words (JSON string syntax,
/// which utils.escapeSystemdExecArg writes) with `%%` and `$$` undone.
fn argv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let mut end = 1;
            let b = rest.as_bytes();
            while b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            let s: String = serde_json::from_str(&rest[..=end]).unwrap();
            out.push(s.replace("%%", "%").replace("$$", "$"));
            rest = &rest[end + 1..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    out
}

/// Expected arguments, none of which holds a space.
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn exec(v: &Value) -> Vec<String> {
    argv(
        v["systemd"]["services"]["kateskit-netboot"]["serviceConfig"]["ExecStart"]
            .as_str()
            .unwrap(),
    )
}

fn failing(v: &Value) -> Vec<String> {
    v["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["assertion"] == false)
        .map(|a| a["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn proxy_mode_renders_the_serve_command_line_with_the_images_kargs() {
    let Some(v) = eval(r#"{ extraKargs = [ "quiet" "kateskit.x=50%$HOME" ]; }"#) else {
        return;
    };
    assert_eq!(failing(&v), Vec::<String>::new());
    // The netboot build's own arguments first (its initrd needs init=), then the site's;
    // systemd's specifier and variable signs reach serve unchanged.
    assert_eq!(
        exec(&v),
        words(
            "/kk/bin/kateskit netboot serve --cluster /var/lib/kateskit/rack --artifacts /nix/store/aaaa-kateskit-netboot --interface eth1 --dhcp proxy --unknown ignore \
             --state /var/lib/kateskit-netboot --tftp-root /ipxe --tftp-port 69 --http-port 8080 --https-port 8443 --slots 16 \
             --karg init=/nix/store/bbbb-system/init --karg console=ttyS0,115200 --karg quiet --karg kateskit.x=50%$HOME"
        )
    );
    // Closed unless asked for.
    assert_eq!(v["networking"]["firewall"]["interfaces"], json!({}));
}

#[test]
fn full_mode_renders_range_dhcp_options_and_opens_the_interfaces_ports() {
    let Some(v) = eval(
        r#"{ dhcp = "full"; range = { first = "192.0.2.100"; last = "192.0.2.199"; }; listen = "192.0.2.1";
             router = "192.0.2.254"; dns = [ "192.0.2.53" "198.51.100.53" ]; unknown = "pending";
             installImage = "rack.img"; httpPort = 80; httpsPort = 443; tftpPort = 6969; slots = 4;
             stateDir = "/var/lib/netboot-rack"; tftpRoot = "/srv/ipxe"; artifacts = "/srv/netboot";
             openFirewall = true; }"#,
    ) else {
        return;
    };
    assert_eq!(failing(&v), Vec::<String>::new());
    let args = exec(&v);
    assert_eq!(
        args[3..],
        words(
            "--cluster /var/lib/kateskit/rack --artifacts /srv/netboot --interface eth1 --dhcp full --unknown pending \
             --state /var/lib/netboot-rack --tftp-root /srv/ipxe --tftp-port 6969 --http-port 80 --https-port 443 --slots 4 \
             --range 192.0.2.100,192.0.2.199 --listen 192.0.2.1 --router 192.0.2.254 --dns 192.0.2.53 --dns 198.51.100.53 --install-image rack.img"
        )
    );
    // A plain directory names no kernel arguments of its own.
    assert!(!args.contains(&"--karg".to_string()), "{args:?}");
    let unit = &v["systemd"]["services"]["kateskit-netboot"]["serviceConfig"];
    assert_eq!(unit["StateDirectory"], "netboot-rack");
    assert_eq!(unit["ReadWritePaths"], json!(["/var/lib/netboot-rack"]));
    // Only on the rack interface, only the ports in use; nothing opened globally.
    assert_eq!(
        v["networking"]["firewall"],
        json!({ "interfaces": { "eth1": {
            "allowedUDPPorts": [67, 4011, 6969],
            "allowedTCPPorts": [80, 443]
        } } })
    );
}

#[test]
fn the_unit_follows_its_interface_with_two_capabilities_and_one_writable_path() {
    let Some(v) = eval(r#"{ interface = "br-rack"; }"#) else {
        return;
    };
    let unit = &v["systemd"]["services"]["kateskit-netboot"];
    let dev = "sys-subsystem-net-devices-br\\x2drack.device";
    assert_eq!(unit["bindsTo"], json!([dev]));
    assert_eq!(unit["after"], json!([dev, "network-online.target"]));
    assert_eq!(unit["wants"], json!(["network-online.target"]));
    assert_eq!(unit["wantedBy"], json!(["multi-user.target"]));
    let s = &unit["serviceConfig"];
    let caps = json!(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
    assert_eq!(s["AmbientCapabilities"], caps);
    assert_eq!(s["CapabilityBoundingSet"], caps);
    assert_eq!(s["Restart"], "on-failure");
    assert_eq!(s["User"], "kateskit-netboot");
    assert_eq!(s["Group"], "kateskit-netboot");
    assert_eq!(s["StateDirectory"], "kateskit-netboot");
    assert_eq!(s["StateDirectoryMode"], "0700");
    assert_eq!(s["ProtectSystem"], "strict");
    assert_eq!(s["ReadWritePaths"], json!(["/var/lib/kateskit-netboot"]));
    for key in [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
        "MemoryDenyWriteExecute",
    ] {
        assert_eq!(s[key], true, "{key}");
    }
    assert_eq!(v["environment"]["systemPackages"], json!(["/kk"]));
    // Not root, and no other privilege the server does not need.
    assert!(s.get("DynamicUser").is_none() && s.get("PrivateNetwork").is_none());
    assert_eq!(
        v["users"],
        json!({ "users": { "kateskit-netboot": { "isSystemUser": true, "group": "kateskit-netboot", "description": "KatesKit netboot server" } },
                "groups": { "kateskit-netboot": {} } })
    );
}

#[test]
fn bad_settings_fail_evaluation_naming_the_fix() {
    let cases = [
        (
            r#"{ dhcp = "full"; }"#,
            "set services.kateskit-netboot.range = {",
        ),
        (
            r#"{ range = { first = "192.0.2.100"; last = "192.0.2.199"; }; }"#,
            "range, router and dns are DHCP settings of dhcp = \"full\"",
        ),
        (
            r#"{ dns = [ "192.0.2.53" ]; }"#,
            "Remove them or set dhcp = \"full\"",
        ),
        (r#"{ artifacts = null; }"#, ".generic.images.netboot"),
        (
            r#"{ cluster = "/nix/store/cccc-rack"; }"#,
            "outside the Nix store (it holds the cluster's secrets",
        ),
        (r#"{ cluster = "rack"; }"#, "as an absolute path"),
        (
            r#"{ stateDir = "/srv/netboot"; }"#,
            "is not under /var/lib/",
        ),
    ];
    for (settings, want) in cases {
        let Some(v) = eval(settings) else { return };
        let bad = failing(&v);
        assert_eq!(bad.len(), 1, "{settings}: {bad:?}");
        assert!(bad[0].contains(want), "{settings}: {}", bad[0]);
    }
}

/// docs/netboot.md's "NixOS" table names every option the module declares (but `enable` and
/// `package`) and nothing else, each row's flags are on the rendered command line, and the
/// defaults it states are the module's.
#[test]
fn the_docs_table_names_every_option_with_its_flag() {
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        &format!(
            "{MODULE} {{ names = builtins.attrNames decls; defaults = removeAttrs defaults [ \"package\" \"tftpRoot\" ]; }}"
        ),
    ) else {
        return;
    };
    let text = std::fs::read_to_string(nixtool::repo().join("docs/netboot.md")).unwrap();
    let section = text
        .split("\n## NixOS\n")
        .nth(1)
        .expect("docs/netboot.md has a NixOS section");
    let mut documented = Vec::new();
    let mut flags = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        for name in cells[0].split(", ") {
            documented.push(name.trim_matches('`').to_string());
        }
        flags.extend(
            cells[2]
                .split(|c: char| c == '`' || c == ',' || c.is_whitespace())
                .filter(|w| w.starts_with("--"))
                .map(String::from),
        );
    }
    documented.sort();
    let mut declared: Vec<String> = v["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .filter(|n| n != "enable" && n != "package")
        .collect();
    declared.sort();
    assert_eq!(
        documented, declared,
        "docs/netboot.md \"NixOS\" table vs the module"
    );
    let full = eval(
        r#"{ dhcp = "full"; range = { first = "192.0.2.100"; last = "192.0.2.199"; }; listen = "192.0.2.1";
             router = "192.0.2.254"; dns = [ "192.0.2.53" ]; installImage = "i.img"; extraKargs = [ "quiet" ]; }"#,
    )
    .unwrap();
    let args = exec(&full);
    for f in &flags {
        assert!(
            args.contains(f),
            "docs/netboot.md names {f}, the unit has none: {args:?}"
        );
    }
    // Defaults as the table states them.
    let d = &v["defaults"];
    for (name, shown) in [
        ("dhcp", "`\"proxy\"`"),
        ("unknown", "`\"ignore\"`"),
        ("stateDir", "`/var/lib/kateskit-netboot`"),
        ("slots", "16"),
        ("openFirewall", "`false`"),
    ] {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap();
        assert!(row.contains(shown), "{row}");
        let want = shown.trim_matches('`').trim_matches('"');
        assert_eq!(
            d[name].to_string().trim_matches('"'),
            want,
            "{name}: the module's default"
        );
    }
    assert_eq!(
        (&d["tftpPort"], &d["httpPort"], &d["httpsPort"]),
        (&json!(69), &json!(8080), &json!(8443))
    );
}
