//! `kateskit cluster import k3os`: single-node and multi-node k3os configs become a cluster
//! directory that `cluster check` accepts and `cluster render` renders, with a report of
//! everything not carried over and the live cluster's token kept for joining.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const TOKEN: &str =
    "K10e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855::server:s3cr3t-live";

fn kateskit() -> Command {
    Command::cargo_bin("kateskit").unwrap()
}

fn fixture(set: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k3os")
        .join(set)
        .join(name)
}

/// Runs the import with `--json` and returns its report.
fn import(files: &[PathBuf], into: &Path) -> Value {
    let out = kateskit()
        .args(["cluster", "import", "k3os"])
        .args(files)
        .arg("--into")
        .arg(into)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("s3cr3t") && !text.contains("rancher\""),
        "{text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn check_and_spec(dir: &Path) -> toml::Value {
    kateskit()
        .args(["cluster", "check"])
        .arg(dir)
        .assert()
        .success();
    toml::from_str(&std::fs::read_to_string(dir.join("cluster.toml")).unwrap()).unwrap()
}

fn not_carried(r: &Value) -> Vec<String> {
    r["not_carried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{} {}",
                u["source"].as_str().unwrap().rsplit('/').next().unwrap(),
                u["key"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_single_node_config_becomes_a_checked_cluster() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("home");
    let r = import(&[fixture("single", "config.yaml")], &dir);
    let spec = check_and_spec(&dir);
    let nodes = spec["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["name"].as_str(), Some("homelab"));
    assert_eq!(nodes[0]["role"].as_str(), Some("server"));
    assert_eq!(nodes[0]["labels"]["region"].as_str(), Some("home"));
    assert_eq!(spec["bundle"]["traefik"]["enable"].as_bool(), Some(false));
    assert_eq!(
        spec["cluster"]["ssh_authorized_keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        spec["cluster"]["ntp_servers"][0].as_str(),
        Some("0.us.pool.ntp.org")
    );
    assert_eq!(
        not_carried(&r),
        [
            "config.yaml ssh_authorized_keys github:homelab-admin",
            "config.yaml k3os.dns_nameservers",
            "config.yaml k3os.password",
            "config.yaml k3os.k3s_args --write-kubeconfig-mode 0644",
            "config.yaml write_files",
        ]
    );
    assert!(r["token_file"].is_null());
    // `cluster init`'s secrets are there: a node renders.
    kateskit()
        .args(["cluster", "render"])
        .arg(&dir)
        .args(["--node", "homelab"])
        .assert()
        .success();
}

#[test]
fn servers_and_agents_sharing_a_token_keep_it_for_joining() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("lab");
    // Agents first on the command line: the server without server_url still comes first.
    let files: Vec<PathBuf> = ["a1.yaml", "a2.yaml", "s2.yaml", "s1.yaml", "s3.yaml"]
        .iter()
        .map(|f| fixture("multi", f))
        .collect();
    let r = import(&files, &dir);
    let spec = check_and_spec(&dir);
    let nodes = spec["nodes"].as_array().unwrap();
    let names: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("s1", "server"),
            ("s2", "server"),
            ("s3", "server"),
            ("a1", "agent"),
            ("a2", "agent")
        ]
    );
    let taints = |i: usize| nodes[i]["taints"].clone();
    assert_eq!(taints(0), taints(1));
    assert_eq!(
        taints(0).as_array().unwrap()[0].as_str(),
        Some("CriticalAddonsOnly=true:NoExecute")
    );
    assert_eq!(nodes[3]["labels"]["disk"].as_str(), Some("ssd"));
    assert_eq!(
        nodes[3]["labels"]["node-role.kubernetes.io/worker"].as_str(),
        Some("true")
    );
    assert_eq!(nodes[4]["labels"]["disk"].as_str(), Some("hdd"));
    assert_eq!(nodes[4]["taints"][0].as_str(), Some("gpu=true:NoSchedule"));
    assert_eq!(
        spec["network"]["tls_sans"].as_array().unwrap(),
        &[toml::Value::from("api.lab.example")]
    );
    // The live cluster's token, kept private for joining it.
    let tf = PathBuf::from(r["token_file"].as_str().unwrap());
    assert_eq!(tf, dir.join("secrets/k3os-token"));
    assert_eq!(std::fs::read_to_string(&tf).unwrap(), format!("{TOKEN}\n"));
    assert_eq!(
        std::fs::metadata(&tf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let nc = not_carried(&r);
    for want in [
        "a1.yaml k3os.wifi lab",
        "a1.yaml k3os.server_url https://s1.lab.example:6443",
        "a2.yaml k3os.k3s_args --kubelet-arg max-pods=200",
        "a2.yaml write_files[0] /etc/conf.d/k3s-service",
        "a2.yaml k3os.sysctls",
        "a2.yaml k3os.modules",
    ] {
        assert!(nc.iter().any(|n| n == want), "{want} missing in {nc:#?}");
    }
    // Nothing said twice, no secret shown.
    let shown = r.to_string();
    assert!(
        !shown.contains("wifi-secret") && !shown.contains("s3cr3t"),
        "{shown}"
    );
}

#[test]
fn an_existing_cluster_directory_is_never_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("c");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.toml"), "# mine\n").unwrap();
    let out = kateskit()
        .args(["cluster", "import", "k3os"])
        .arg(fixture("single", "config.yaml"))
        .arg("--into")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster.toml already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("cluster.toml")).unwrap(),
        "# mine\n"
    );
    assert!(!dir.join("secrets").exists());
}

#[test]
fn a_hostname_that_is_no_node_name_is_refused_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("bad.yaml");
    std::fs::write(&f, "hostname: Not_A_Label\n").unwrap();
    let out = kateskit()
        .args(["cluster", "import", "k3os"])
        .arg(&f)
        .arg("--into")
        .arg(d.path().join("c"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml: node name `not_a_label`"), "{err}");
    assert!(!d.path().join("c").exists());
}
