//! Cargo.toml's `rust-version` is no lower than what any locked dependency declares, so a
//! toolchain that meets it can build Cargo.lock as it is (read offline from the lock and the
//! downloaded registry sources through `cargo metadata`).

use std::process::Command;

fn version(s: &str) -> Vec<u64> {
    let mut v: Vec<u64> = s.split('.').map(|p| p.parse().unwrap()).collect();
    v.resize(3, 0);
    v
}

#[test]
fn rust_version_covers_every_locked_package() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata --locked --offline failed (`cargo fetch --locked` downloads every locked package; tests/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "kateskit")
        .expect("kateskit in cargo metadata");
    let declared = version(
        ours["rust_version"]
            .as_str()
            .expect("Cargo.toml sets rust-version"),
    );
    let mut above: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            (version(v) > declared).then(|| format!("{} {} needs {v}", p["name"], p["version"]))
        })
        .collect();
    above.sort();
    assert!(
        above.is_empty(),
        "Cargo.toml rust-version {declared:?} is below what Cargo.lock needs; raise it to the highest of:\n{}",
        above.join("\n")
    );
    assert!(
        packages.len() > 50,
        "cargo metadata listed only {} packages",
        packages.len()
    );
}
