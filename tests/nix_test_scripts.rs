//! Nix evaluation tier for the NixOS VM tests' Python: every test in nix/tests is rendered the
//! way `runNixOSTest` would hand its `testScript` to the test driver (real nix/tests/lib.nix and
//! test file, stand-ins only for the store paths and node names the text interpolates:
//! tests/nixtool/render-test-script.nix), then parsed by Python and checked against the test
//! driver's API (tests/nixtool/check_test_script.py records it with its nixpkgs source). A
//! script the driver would refuse to run fails here naming the file and Python's error.

mod nixtool;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use nixtool::{eval_json, nix_str, repo};
use serde_json::{json, Value};

/// Files in nix/tests that are helpers or data, not tests (as in nix_vm_tests.rs).
const NOT_TESTS: [&str; 3] = ["default.nix", "lib.nix", "bundle-images.nix"];

fn python() -> Option<&'static str> {
    for p in ["python3"] {
        if Command::new(p).arg("--version").output().is_ok() {
            return Some(p);
        }
    }
    eprintln!("skipping: python3 not found (Debian package python3)");
    None
}

/// `{ script; nodes; skipLint; skipTypeCheck }` of one test file.
fn render(state: &Path, file: &Path) -> Option<Value> {
    let tool = repo().join("tests/nixtool");
    eval_json(
        state,
        &format!(
            "import {} {{ file = {}; libFile = ./nix/tests/lib.nix; pkgsPath = {}; }}",
            nix_str(&tool.join("render-test-script.nix")),
            nix_str(file),
            nix_str(&tool.join("pkgs-path")),
        ),
    )
}

/// Runs the checker on one script; Err holds its report.
fn check(py: &str, file: &str, script: &str, nodes: &Value) -> Result<(), String> {
    let mut child = Command::new(py)
        .arg(repo().join("tests/nixtool/check_test_script.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3");
    let input = json!({ "file": file, "script": script, "nodes": nodes });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(report)
    }
}

fn test_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("nix/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".nix") && !NOT_TESTS.contains(&n.as_ref())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_vm_test_script_is_valid_python_calling_only_the_drivers_api() {
    let Some(py) = python() else { return };
    let state = tempfile::tempdir().unwrap();
    let files = test_files();
    assert!(files.len() >= 9, "{files:?}");
    let mut problems = Vec::new();
    for f in &files {
        let name = format!("nix/tests/{}", f.file_name().unwrap().to_string_lossy());
        let Some(v) = render(state.path(), f) else {
            return;
        };
        let script = v["script"]
            .as_str()
            .expect("testScript renders to a string");
        // The driver runs pyflakes and mypy on the script unless told not to (nixpkgs
        // nixos/lib/testing/driver.nix); these tests must keep both checks.
        assert_eq!(v["skipLint"], false, "{name} turns the driver's lint off");
        assert_eq!(v["skipTypeCheck"], false, "{name} turns the type check off");
        // What the tests are for: each waits for a unit of the agent.
        assert!(script.contains("kateskit-"), "{name}: {script}");
        if let Err(e) = check(py, &name, script, &v["nodes"]) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.concat());
}

/// The checker fails on what the driver would refuse: bad Python (the double-quoted Ready
/// check this directory once had), a method no machine has, a wrong parameter, an unknown
/// global; and accepts the idioms the tests use (loops and dicts of machines).
#[test]
fn the_checker_names_the_file_and_the_error() {
    let Some(py) = python() else { return };
    let nodes = json!(["s1", "s2"]);
    let ready = r#"k3s kubectl get node s1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True"#;
    let e = check(
        py,
        "nix/tests/x.nix",
        &format!("s1.wait_until_succeeds(\"{ready}\", timeout=900)\n"),
        &nodes,
    )
    .unwrap_err();
    assert!(
        e.starts_with("nix/tests/x.nix: testScript is not valid Python: line 1: "),
        "{e}"
    );
    for (script, want) in [
        (
            "s1.wait_for_unit_active(\"k3s.service\")\n",
            "machine method `wait_for_unit_active` does not exist",
        ),
        (
            "s1.wait_for_unit(\"k3s.service\", timout=60)\n",
            "has no parameter `timout`",
        ),
        (
            "s1.succeed(\"true\", check=True)\n",
            "has no parameter `check`",
        ),
        (
            "for m in [s1, s2]:\n    m.wait_for_units(\"x\")\n",
            "`wait_for_units` does not exist",
        ),
        (
            "ms = {\"a\": s1, \"b\": s2}\nms[\"a\"].crashh()\n",
            "`crashh` does not exist",
        ),
        ("o = [m for n, m in {\"a\": s1}.items()][0]\n", ""),
        ("start_all(s1)\n", "start_all takes at most 0 positional"),
        ("wait_all()\n", "`wait_all` is neither a test-driver global"),
        (
            "m = create_machine(\"qemu\", \"x\")\n",
            "create_machine takes at most 1 positional",
        ),
        (
            "m = create_machine(\"qemu\")\nm.shutdown_now()\n",
            "`shutdown_now` does not exist",
        ),
    ] {
        let r = check(py, "nix/tests/y.nix", script, &nodes);
        if want.is_empty() {
            assert!(r.is_ok(), "{script}: {r:?}");
        } else {
            let e = r.unwrap_err();
            assert!(
                e.contains("nix/tests/y.nix: line ") && e.contains(want),
                "{script}: {e}"
            );
        }
    }
    let ok = "start_all()\nms = {\"s1\": s1, \"s2\": s2}\nfor m in (s1, s2):\n    m.wait_for_unit(\"k3s.service\", timeout=600)\nfirst = \"s1\"\nms[first].crash()\nother = [m for n, m in ms.items() if n != first][0]\nout = other.succeed(\"a\", \"b\").strip()\nassert out, out\n";
    assert_eq!(check(py, "nix/tests/z.nix", ok, &nodes), Ok(()));
    // The driver's pyflakes lint: an unused import fails the driver's build.
    if Command::new("pyflakes3").arg("--version").output().is_ok() {
        let e = check(py, "nix/tests/l.nix", "import json\nstart_all()\n", &nodes).unwrap_err();
        assert!(
            e.contains("nix/tests/l.nix: pyflakes: 1:1: 'json' imported but unused"),
            "{e}"
        );
    } else {
        eprintln!("skipping the pyflakes case: pyflakes3 not found (Debian package pyflakes3)");
    }
    // A single node is also `machine`.
    assert_eq!(
        check(py, "nix/tests/z.nix", "machine.start()\n", &json!(["box"])),
        Ok(())
    );
}

/// lib.nix's checks are Python literals of the shell commands, whatever quotes they hold.
#[test]
fn lib_checks_are_python_literals_of_their_shell_commands() {
    let Some(py) = python() else { return };
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        "let t = import ./nix/tests/lib.nix { pkgs = { lib = { }; runCommand = null; path = null; stdenv = null; }; kateskit = null; };
         in [ (t.readyCheck \"box\") (t.helmInstalled \"dex\") (t.py \"a'b\\\"c\\\\d\\n$x\") ]",
    ) else {
        return;
    };
    let out = Command::new(py)
        .args([
            "-c",
            "import ast,json,sys; print(json.dumps([ast.literal_eval(s) for s in json.load(sys.stdin)]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(v.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!([
            r#"k3s kubectl get node box -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True"#,
            "k3s kubectl -n kube-system wait --for=condition=complete job/helm-install-dex --timeout=10s",
            "a'b\"c\\d\n$x"
        ])
    );
}
