//! A netbooted machine installs the raw image `kateskit netboot serve` offers: serve (in a
//! network namespace, 192.0.2.0/24) hashes `install.img` once, and the boot script carries
//! `kateskit.install.image_url=` with `kateskit.install.image_sha256=` and the zero map serve
//! built in the same pass (`kateskit.install.image_zeros=`, equal to a scan of the image);
//! `kateskit install --boot-request` in the client namespace reads them from that kernel
//! command line and streams the image from serve's artifact router onto a loop device, its
//! zero runs written rather than downloaded. A missing `--install-image` is a start error
//! naming it. Needs root, iproute2, curl, sgdisk and loop devices.

mod agent_support;
mod dhcp_support;
mod fleet_support;
mod image_common;
mod netns;
mod serve_support;

use std::os::unix::fs::FileExt;

use agent_support::loopdev::{lock, loop_devices_available, LoopDev};
use agent_support::Cluster;
use fleet_support::{ok, A1};
use image_common::{
    fixture_with_zero_run, node_config_without_install_disk as node_config, zero_map_of,
};
use netns::Netns;
use serve_support::{artifacts, curl, Serve};
use sha2::{Digest, Sha256};

const SERVER: &str = "192.0.2.1";

#[test]
fn the_boot_script_names_the_install_image_and_install_streams_it_from_serve() {
    if netns::skip_unless_available(&["curl"]) || !loop_devices_available() {
        return;
    }
    let _l = lock();
    let c = Cluster::new("rack");
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let (art, tftp, _) = artifacts(dir.path());
    let image = fixture_with_zero_run(dir.path(), 36);
    let data = std::fs::read(&image).unwrap();
    std::fs::write(art.join("install.img"), &data).unwrap();
    let sha = hex::encode(Sha256::digest(&data));
    let state = dir.path().join("state");
    let (srv, cl) = (Netns::new("srv"), Netns::new("cl"));
    netns::veth(&srv, "sv0", &cl, "cl0");
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "sv0"]);
    cl.ip(&["addr", "add", "192.0.2.21/24", "dev", "cl0"]);
    cl.ip(&["link", "set", "cl0", "address", A1]);
    let serve_cmd = |extra: &[&str]| {
        let mut cmd = srv.command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap());
        cmd.args(["netboot", "serve", "--interface", "sv0"])
            .args(extra)
            .arg("--cluster")
            .arg(c.dir.path())
            .arg("--artifacts")
            .arg(&art)
            .arg("--tftp-root")
            .arg(&tftp)
            .arg("--state")
            .arg(&state);
        cmd
    };

    // A named image that is not there stops the start, naming it.
    let o = serve_cmd(&["--install-image", "nope.img"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("nope.img") && e.contains("--install-image"),
        "{e}"
    );

    // `install.img` is taken by default; its hash is in the ready line and the boot script.
    let serve = Serve::start(serve_cmd(&[]));
    assert_eq!(serve.field("install_image"), "install.img");
    assert_eq!(serve.field("install_sha256"), sha);
    let map = zero_map_of(&image);
    assert!(map.zero_bytes() >= 32 << 20, "{}", map.render());
    assert_eq!(
        serve.field("install_zero_bytes"),
        map.zero_bytes().to_string()
    );
    let boot = ok(&curl(
        &cl,
        &[
            "-f",
            &format!("http://{SERVER}:8080/boot/52-54-00-0b-00-01"),
        ],
    ));
    let url = format!("http://{SERVER}:8080/artifacts/install.img");
    assert!(
        boot.contains(&format!("kateskit.install.image_url={url}")),
        "{boot}"
    );
    assert!(
        boot.contains(&format!("kateskit.install.image_sha256={sha}")),
        "{boot}"
    );
    // The zero map the script names is the image's, as a scan of it finds.
    let zeros = format!("http://{SERVER}:8080/zeros/install.img");
    assert!(
        boot.contains(&format!("kateskit.install.image_zeros={zeros}")),
        "{boot}"
    );
    assert_eq!(ok(&curl(&cl, &["-f", &zeros])), map.render());
    assert!(
        std::fs::read_to_string(state.join("install-image.json"))
            .unwrap()
            .contains(&sha),
        "the hash is kept for the next start"
    );
    let cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("install-image.json")).unwrap()).unwrap();
    assert_eq!(cache["zeros"], map.render(), "and the map beside it");

    // The machine's kernel command line: the script's `kernel` line plus the install request.
    let kernel = boot
        .lines()
        .find_map(|l| l.strip_prefix("kernel "))
        .unwrap()
        .trim_end_matches(" || goto kk-failed");
    let dev = LoopDev::new(data.len() as u64 + (8 << 20));
    let cmdline = dir.path().join("cmdline");
    std::fs::write(
        &cmdline,
        format!("{kernel} kateskit.install.device={}\n", dev.path()),
    )
    .unwrap();
    let (_, json) = node_config(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let o = cl
        .command(assert_cmd::cargo::cargo_bin("kateskit").to_str().unwrap())
        .env("KATESKIT_CMDLINE", &cmdline)
        .env("KATESKIT_ROOT", &root)
        .args([
            "install",
            "--boot-request",
            "--yes",
            "--allow-bios-firmware",
        ])
        .arg("--node-config")
        .arg(&json)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains(&url), "{e}");
    assert!(
        e.contains(&format!("zero map: {zeros} marks {}", map.zero_bytes())),
        "{e}"
    );
    let mut disk = vec![0u8; data.len()];
    std::fs::File::open(&dev.dev)
        .unwrap()
        .read_exact_at(&mut disk, 0)
        .unwrap();
    let offset = kateskit::install::embed_offset(&std::fs::File::open(&image).unwrap(), &image)
        .unwrap() as usize;
    let area = kateskit::image::embed::GPT_AREA_SIZE;
    assert!(
        kateskit::image::embed::read_area_required(&disk[offset..offset + area])
            .unwrap()
            .node_config_json
            .is_some()
    );
    disk[offset..offset + area].fill(0);
    assert!(
        disk == data,
        "the disk holds the served image outside the embed area"
    );
    drop(serve);
}
