//! The trust table in docs/agent.md is the code's (`kateskit::agent::ladder::trust::TABLE`), and the
//! filter the ladder applies follows it for every source, key class and boot.

use std::path::Path;

use kateskit::agent::ladder::merge::Layer;
use kateskit::agent::ladder::trust::{self, Access, DrivePolicy, KeyClass, Source, When};
use serde_json::json;

/// The rows of the markdown table under `### Trust table` in docs/agent.md.
fn doc_table() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"))
        .unwrap();
    let sec = doc
        .split("### Trust table")
        .nth(1)
        .expect("docs/agent.md has a Trust table section");
    sec.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// A key of each class, as the docs name them.
fn sample(class: KeyClass) -> Vec<&'static str> {
    match class {
        KeyClass::Protected => trust::PROTECTED.to_vec(),
        KeyClass::OwnerOnly => trust::OWNER_ONLY.to_vec(),
        KeyClass::Other => vec!["host.hostname", "node.labels", "agent.phone_home"],
    }
}

fn layer_with(path: &str) -> Layer {
    let mut v = json!("x");
    for seg in path.rsplit('.') {
        v = json!({ seg: v });
    }
    Layer::uniform(v, "test")
}

/// The table in docs/agent.md is the code's table, and filtering a layer of every source with
/// a key of every class at every boot keeps exactly what the docs' cell says.
#[test]
fn the_trust_table_in_the_docs_is_the_codes() {
    let rows = doc_table();
    assert_eq!(rows.len(), trust::TABLE.len(), "{rows:?}");
    let src_of = |s: &str| {
        Source::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .unwrap_or_else(|| panic!("unknown source {s}"))
    };
    let class_of = |s: &str| {
        KeyClass::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .unwrap_or_else(|| panic!("unknown keys {s}"))
    };
    for row in &rows {
        let (src, class) = (src_of(&row[0]), class_of(&row[1]));
        for (i, when) in When::ALL.into_iter().enumerate() {
            let cell = &row[2 + i];
            assert_eq!(
                trust::access(src, class, when).name(),
                cell,
                "{row:?} column {i}"
            );
            for key in sample(class) {
                for policy in [DrivePolicy::FirstBoot, DrivePolicy::Always] {
                    let (kept, dropped) = trust::filter(&layer_with(key), src, when, policy);
                    let want = match trust::access(src, class, when) {
                        Access::Yes => true,
                        Access::No => false,
                        Access::IfAlways => policy == DrivePolicy::Always,
                    };
                    assert_eq!(
                        dropped.is_empty(),
                        want,
                        "{row:?} {when:?} {policy:?} {key}"
                    );
                    assert_eq!(kept.is_empty(), !want, "{row:?} {when:?} {policy:?} {key}");
                }
            }
        }
    }
    for (src, class, _) in trust::TABLE {
        assert!(
            rows.iter()
                .any(|r| r[0] == src.name() && r[1] == class.name()),
            "{} {} missing from the docs",
            src.name(),
            class.name()
        );
    }
    // The protected keys the docs list are the code's.
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"))
        .unwrap();
    let line = doc
        .lines()
        .find(|l| l.starts_with("- **Protected keys**:"))
        .expect("protected keys listed");
    let listed: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    assert_eq!(listed, trust::PROTECTED);
}
