use super::*;

const PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\nZZ+/=\n-----END CERTIFICATE-----\n";

fn boot(kargs: &[String]) -> Result<String, ScriptError> {
    render_boot(&BootScript {
        node: "worker-1",
        kernel_url: "http://192.0.2.1:8080/artifacts/bzImage",
        initrd_url: "http://192.0.2.1:8080/artifacts/initrd",
        config_url: "https://192.0.2.1:8443/config/52-54-00-aa-bb-cc",
        config_pin: ConfigPin::CaPem(PEM),
        kargs,
    })
}

#[test]
fn the_boot_script_loads_kernel_and_initrd_with_the_pinned_config_url() {
    let s = boot(&["console=ttyS0".into(), "quiet".into()]).unwrap();
    assert!(s.starts_with("#!ipxe\n"));
    let kernel = s.lines().find(|l| l.starts_with("kernel ")).unwrap();
    assert_eq!(
        kernel,
        "kernel http://192.0.2.1:8080/artifacts/bzImage initrd=initrd.img \
         kateskit.config_url=https://192.0.2.1:8443/config/52-54-00-aa-bb-cc \
         kateskit.config_ca=\"-----BEGIN CERTIFICATE----- MIIBszCCAVmgAwIBAgIUQ ZZ+/= -----END CERTIFICATE-----\" \
         console=ttyS0 quiet || goto kk-failed"
    );
    assert!(s.contains(
        "\ninitrd --name initrd.img http://192.0.2.1:8080/artifacts/initrd || goto kk-failed\n"
    ));
    assert!(s.contains("\nboot || goto kk-failed\n"));
    // The failure path falls through to the next boot device (exit 0 would stop UEFI in its
    // boot manager).
    assert!(s.ends_with("exit 1\n"));
}

#[test]
fn the_kernel_line_reads_back_as_linux_reads_it() {
    let s = boot(&["k=\"\"".into()]).unwrap_err();
    assert!(matches!(s, ScriptError::Unsafe { .. }), "{s}");
    let s = boot(&["kateskit.agent.note=a b".into()]).unwrap();
    let kernel = s.lines().find(|l| l.starts_with("kernel ")).unwrap();
    let line = kernel
        .trim_start_matches("kernel ")
        .trim_end_matches(" || goto kk-failed");
    let split = crate::agent::ladder::argsplit::split(line);
    let get = |k: &str| {
        split
            .params
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
    };
    assert_eq!(get("kateskit.agent.note").as_deref(), Some("a b"));
    assert_eq!(
        get("kateskit.config_ca").as_deref(),
        Some("-----BEGIN CERTIFICATE----- MIIBszCCAVmgAwIBAgIUQ ZZ+/= -----END CERTIFICATE-----")
    );
}

#[test]
fn values_ipxe_would_change_are_refused_with_the_reason() {
    for (bad, why) in [
        ("x=${net0/mac}", "expands"),
        ("x=a ; reboot", "ends an iPXE command"),
        ("x=a #b", "ends an iPXE command"),
        ("x=a && b", "ends an iPXE command"),
        ("x=a\nreboot", "control character"),
        ("x=a  b", "single spaces"),
        ("-x", "option"),
    ] {
        let e = boot(&[bad.to_string()]).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
    let e = render_boot(&BootScript {
        node: "n",
        kernel_url: "http://h/k ; reboot",
        initrd_url: "http://h/i",
        config_url: "https://h/c",
        config_pin: ConfigPin::CaPem(PEM),
        kargs: &[],
    })
    .unwrap_err();
    assert!(e.to_string().contains("kernel URL"), "{e}");
    let e = render_boot(&BootScript {
        node: "n",
        kernel_url: "http://h/k",
        initrd_url: "http://h/i",
        config_url: "http://h/c",
        config_pin: ConfigPin::CaPem(PEM),
        kargs: &[],
    })
    .unwrap_err();
    assert!(e.to_string().contains("must be https://"), "{e}");
}

#[test]
fn no_secret_is_ever_rendered() {
    let marker = "LEAKMARKER7";
    for bad in [
        format!("kateskit.token=K10{}::server:{marker}", "a".repeat(64)),
        format!("kateskit.secrets.agent_token={marker}"),
        format!("kateskit.secrets[token]={marker}"),
        format!("kateskit.agent_token={marker}"),
        format!("k3os.token={marker}"),
        format!("kateskit.agent.note=K10abc::node:{marker}"),
    ] {
        let e = boot(std::slice::from_ref(&bad)).unwrap_err();
        assert!(matches!(e, ScriptError::Secret { .. }), "{bad}: {e}");
        assert!(!e.to_string().contains(marker), "{e}");
    }
    let key = format!("-----BEGIN PRIVATE KEY-----\n{marker}\n-----END PRIVATE KEY-----\n");
    let e = render_boot(&BootScript {
        node: "n",
        kernel_url: "http://h/k",
        initrd_url: "http://h/i",
        config_url: "https://h/c",
        config_pin: ConfigPin::CaPem(&key),
        kargs: &[],
    })
    .unwrap_err();
    assert!(!e.to_string().contains(marker), "{e}");
    let ok = boot(&["kateskit.role=agent".into()]).unwrap();
    assert!(!ok.contains(marker));
}

#[test]
fn the_chain_script_retries_dhcp_then_chains_with_the_machine_identity() {
    let s = render_chain(&ChainScript {
        endpoint: "http://192.0.2.1:8080/boot/",
        dhcp_attempts: 10,
    })
    .unwrap();
    assert!(s.starts_with("#!ipxe\n"));
    assert!(s.contains("isset ${filename} && goto kk-chain ||\n"));
    assert!(s.contains("iseq ${kk-try} 10 && goto kk-failed ||\n"));
    assert!(s.contains(
        "chain --replace --autofree http://192.0.2.1:8080/boot/${mac:hexhyp}?uuid=${uuid:uristring}&serial=${serial:uristring}&arch=${buildarch:uristring} || goto kk-failed\n"
    ));
    assert!(render_chain(&ChainScript {
        endpoint: "http://h/${x}",
        dhcp_attempts: 1
    })
    .is_err());
    assert!(render_chain(&ChainScript {
        endpoint: "http://h/",
        dhcp_attempts: 0
    })
    .is_err());
}

#[test]
fn a_kernel_command_line_linux_would_cut_is_refused() {
    let long = format!("kateskit.agent.note={}", "x".repeat(1900));
    let e = boot(&[long]).unwrap_err().to_string();
    assert!(e.contains("Linux keeps only 2047"), "{e}");
}

#[test]
fn the_key_pin_is_passed_as_config_tls_sha256_and_checked() {
    let pin = "ab".repeat(32);
    let s = |p: &str| {
        render_boot(&BootScript {
            node: "a1",
            kernel_url: "http://192.0.2.1:8080/artifacts/vmlinuz",
            initrd_url: "http://192.0.2.1:8080/artifacts/initrd.img",
            config_url: "https://192.0.2.1:8443/v1/config/52:54:00:0b:00:01",
            config_pin: ConfigPin::TlsSha256(p),
            kargs: &[],
        })
    };
    let ok = s(&pin).unwrap();
    assert!(
        ok.contains(&format!(" kateskit.config_tls_sha256={pin} ")),
        "{ok}"
    );
    assert!(!ok.contains("config_ca"));
    for bad in ["ab", &"zz".repeat(32), &format!("{pin} x")] {
        assert!(matches!(s(bad), Err(ScriptError::Invalid(_))), "{bad}");
    }
}
