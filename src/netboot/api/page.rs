//! The fleet page: server-rendered HTML from the same rows as `GET /v1/nodes`, every value
//! escaped, no JavaScript. It reloads itself every 10 s.

use crate::netboot::fleet::view::{utc, NodeView};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn cell(v: &Option<String>) -> String {
    esc(v.as_deref().unwrap_or("-"))
}

/// An id for a MAC's section (`m-52-54-00-...`).
pub fn anchor(mac: &str) -> String {
    format!("m-{}", mac.replace(':', "-"))
}

pub fn render(rows: &[NodeView]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>kateskit netboot</title>\
         <style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}\
         td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}\
         .failed,.bad{color:#a00}.joined{color:#070}li{font-family:monospace}</style>\
         </head><body>\n<h1>kateskit netboot fleet</h1>\n",
    );
    h.push_str(&format!(
        "<p>{} machine(s). JSON: <a href=\"/v1/nodes\">/v1/nodes</a></p>\n",
        rows.len()
    ));
    h.push_str(
        "<table id=\"nodes\"><thead><tr><th>MAC</th><th>Node</th><th>Role</th><th>State</th>\
         <th>IP</th><th>Phase</th><th>Last seen</th><th>Failure</th></tr></thead><tbody>\n",
    );
    for r in rows {
        h.push_str(&format!(
            "<tr id=\"row-{a}\" class=\"{st}\"><td><a href=\"#{a}\">{mac}</a></td><td>{node}</td>\
             <td>{role}</td><td class=\"state\">{st}</td><td>{ip}</td><td>{phase}</td>\
             <td>{seen}</td><td class=\"failure\">{fail}</td></tr>\n",
            a = anchor(&r.mac),
            mac = esc(&r.mac),
            node = cell(&r.node),
            role = cell(&r.role),
            st = esc(&r.state),
            ip = cell(&r.ip),
            phase = cell(&r.phase),
            seen = esc(&r.last_seen.map(utc).unwrap_or_else(|| "-".into())),
            fail = cell(&r.failure),
        ));
    }
    h.push_str("</tbody></table>\n");
    for r in rows
        .iter()
        .filter(|r| !r.timeline.is_empty() || r.approved_as.is_some())
    {
        h.push_str(&format!(
            "<section id=\"{}\"><h2>{} &mdash; {}</h2>",
            anchor(&r.mac),
            esc(&r.mac),
            cell(&r.node)
        ));
        if let Some(a) = &r.approved_as {
            h.push_str(&format!("<p>approved as {}</p>", esc(a)));
        }
        h.push_str("<ol class=\"timeline\">\n");
        for e in &r.timeline {
            h.push_str(&format!(
                "<li data-kind=\"{k}\" class=\"{c}\">{t} <b>{k}</b> {d}</li>\n",
                k = e.kind.name(),
                c = if e.ok { "ok" } else { "bad" },
                t = esc(&utc(e.at)),
                d = esc(&e.detail),
            ));
        }
        h.push_str("</ol></section>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let rows = vec![NodeView {
            mac: "52:54:00:00:00:01".into(),
            node: Some("<script>x</script>".into()),
            role: None,
            state: "failed\"><b>".into(),
            ip: None,
            phase: None,
            last_seen: Some(0),
            failure: Some("a & b".into()),
            approved_as: None,
            timeline: Vec::new(),
        }];
        let h = render(&rows);
        assert!(
            !h.contains("<script>") && h.contains("&lt;script&gt;"),
            "{h}"
        );
        assert!(
            h.contains("failed&quot;&gt;&lt;b&gt;") && h.contains("a &amp; b"),
            "{h}"
        );
    }
}
