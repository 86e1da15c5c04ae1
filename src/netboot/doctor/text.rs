//! The report as the doctor prints it without `--json`.

use std::fmt::Write;

use super::verdict::Level;
use super::Report;

fn or_dash<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

/// Responders, ports, verdict, then the site DHCP snippets.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "probe: DHCPDISCOVER as BIOS (arch 0) and UEFI x64 (arch 7) PXE firmware from {} on {}, {:.1} s wait, no lease requested",
        r.probe_mac,
        r.interface,
        r.wait_ms as f64 / 1000.0
    );
    let _ = writeln!(s, "\nresponders:");
    if r.responders.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for x in &r.responders {
        let _ = writeln!(
            s,
            "  {}: server id {}, source {}{}",
            x.role.label(),
            or_dash(&x.server_id),
            x.source,
            if x.local { " (this host)" } else { "" }
        );
        for o in &x.offers {
            let _ = writeln!(
                s,
                "    {:?}: offered {}, next-server {}, option 66 {}, boot file {}, option 43 {}, vendor class {}",
                o.probe,
                or_dash(&o.offered),
                or_dash(&o.next_server),
                or_dash(&o.tftp_server),
                or_dash(&o.boot_file),
                match (o.option_43, o.boot_menu.is_empty()) {
                    (false, _) => "no".to_string(),
                    (true, true) => "yes".to_string(),
                    (true, false) => format!(
                        "yes (boot menu {})",
                        o.boot_menu
                            .iter()
                            .map(|t| format!("{t:#06x}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                or_dash(&o.vendor_class)
            );
        }
        if let Some(p) = &x.port_4011 {
            let state = match (&p.skipped, p.answered) {
                (Some(why), _) => format!("not asked: {why}"),
                (None, true) => format!("answered, boot file {}", or_dash(&p.boot_file)),
                (None, false) => "no answer".into(),
            };
            let _ = writeln!(s, "    udp/4011: {state}");
        }
    }
    let _ = writeln!(s, "\nlocal ports:");
    for p in &r.ports {
        let held = if p.holders.is_empty() {
            "free".to_string()
        } else {
            let h: Vec<String> = p.holders.iter().map(|h| h.to_string()).collect();
            format!("held by {}", h.join(", "))
        };
        let serve = match p.netboot_serve {
            Some(true) => "; netboot serve answers there",
            _ => "",
        };
        let _ = writeln!(
            s,
            "  {}/{:<5} {:<32} {held}{serve}",
            p.proto, p.port, p.purpose
        );
    }
    let _ = writeln!(s, "\nverdict:");
    for f in &r.verdict.findings {
        let tag = match f.level {
            Level::Conflict => "CONFLICT",
            Level::Warning => "warning",
            Level::Ok => "ok",
        };
        let _ = writeln!(s, "  {tag}: {}", f.text);
    }
    let _ = writeln!(
        s,
        "\nwhen firmware ignores ProxyDHCP, set this on the site's DHCP server (netboot server {}):",
        r.server
    );
    for c in &r.site_configs {
        let _ = writeln!(s, "\n  {}:", c.title);
        for l in c.text.lines() {
            let _ = writeln!(s, "    {l}");
        }
    }
    s
}
