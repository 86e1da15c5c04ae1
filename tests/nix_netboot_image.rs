//! Nix evaluation tier for the netboot image: the set images/netboot.nix builds is the
//! artifacts directory `kateskit netboot serve` takes, and the raw image reaches it without
//! entering the netboot system (installer/, nix/lib.nix's mkCluster). Evaluated from the files
//! with stand-ins for `pkgs`, `config` and `nixosSystem` and the strict stand-in `lib`.

mod nixtool;

use serde_json::{json, Value};

use nixtool::eval_json;

/// images/netboot.nix with stand-ins: `runCommand` returns its attributes and script.
fn netboot(install_image: &str) -> Option<Value> {
    let state = tempfile::tempdir().unwrap();
    eval_json(
        state.path(),
        &format!(
            r#"let
              lib = import ./tests/nixtool/modlib.nix // {{ mkOption = o: o; types = {{ nullOr = t: t; path = "path"; }};
                escapeShellArg = s: "'" + s + "'"; }};
              pkgs = {{ runCommand = name: attrs: script: {{ inherit name attrs script; }};
                writeTextDir = path: text: "/ipxe-script"; callPackage = f: a: {{ cpio = "/blank.cpio"; }}; }};
              m = import ./images/netboot.nix {{ inherit lib pkgs; modulesPath = "/nixos/modules";
                config = {{ kateskit.netboot.installImage = {install_image};
                  boot.kernelParams = [ "console=ttyS0,115200" "loglevel=4" ];
                  system.boot.loader.kernelFile = "bzImage";
                  system.build = {{ toplevel = "/system"; kernel = "/linux"; netbootRamdisk = "/ramdisk"; }}; }}; }};
            in {{ out = m.config.system.build.kateskitNetboot; variant = m.config.kateskit.imageVariant; installer = builtins.elem ./installer m.imports; }}"#
        ),
    )
}

#[test]
fn the_netboot_set_is_what_serve_serves_without_a_raw_image_in_the_initrd() {
    let Some(v) = netboot("null") else { return };
    assert_eq!(v["variant"], "netboot");
    assert_eq!(v["installer"], true);
    let kargs = json!(["init=/system/init", "console=ttyS0,115200", "loglevel=4"]);
    assert_eq!(v["out"]["attrs"]["passthru"]["kargs"], kargs);
    let script = v["out"]["script"].as_str().unwrap();
    for line in [
        "cp --reflink=auto /linux/bzImage vmlinuz",
        "cp --reflink=auto /ramdisk/initrd initrd.img",
        "sha256sum vmlinuz initrd.img > SHA256SUMS",
        "echo 'init=/system/init console=ttyS0,115200 loglevel=4' > cmdline",
        "cp /blank.cpio embed.cpio",
    ] {
        assert!(script.contains(line), "{line:?} not in:\n{script}");
    }
    assert!(!script.contains("install.img"), "{script}");
    // serve refuses symlinks leading out of the directory: every file is a copy.
    assert!(!script.contains("ln "), "{script}");

    let with = netboot("\"/raw/kateskit-rack.raw\"").unwrap();
    let script = with["out"]["script"].as_str().unwrap();
    assert!(
        script.contains("cp --reflink=auto /raw/kateskit-rack.raw install.img"),
        "{script}"
    );
    assert!(
        script.contains("sha256sum vmlinuz initrd.img install.img > SHA256SUMS"),
        "{script}"
    );
}

/// installer/default.nix: the netboot system links no install image and needs none (the
/// image comes by URL); the ISO without one still stops the build.
#[test]
fn only_the_netboot_live_system_may_go_without_an_install_image() {
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        r#"let
          lib = import ./tests/nixtool/modlib.nix;
          pkgs = { writeShellScript = n: t: "/script"; shadow = "/shadow"; systemd = "/systemd"; efibootmgr = "/efibootmgr"; };
          live = variant: image: lib.resolve [ (import ./installer/default.nix { inherit lib pkgs;
            config = { kateskit = { enable = true; package = "/kk"; imageVariant = variant; install = { inherit image; rebootAfter = true; }; };
              systemd.services.kateskit-install.enable = true; }; }).config ];
          pick = c: { etc = builtins.attrNames (c.environment.etc or { }); ok = (builtins.head c.assertions).assertion; };
        in { netboot = pick (live "netboot" null); iso = pick (live "iso" null); isoWith = pick (live "iso" "/raw.img"); }"#,
    ) else {
        return;
    };
    assert_eq!(v["netboot"], json!({ "etc": [], "ok": true }));
    assert_eq!(v["iso"], json!({ "etc": [], "ok": false }));
    assert_eq!(
        v["isoWith"],
        json!({ "etc": ["kateskit/install.img"], "ok": true })
    );
}

/// nix/lib.nix's mkCluster with a stand-in nixosSystem that returns the modules it was given:
/// the ISO gets the raw image as `kateskit.install.image`, the netboot system only as its
/// artifacts' install.img.
#[test]
fn mk_cluster_gives_the_raw_image_to_the_netboot_set_not_its_system() {
    let state = tempfile::tempdir().unwrap();
    let Some(v) = eval_json(
        state.path(),
        r#"let
          modlib = import ./tests/nixtool/modlib.nix;
          lib = modlib // {
            mapAttrs = builtins.mapAttrs;
            mapAttrs' = f: s: builtins.listToAttrs (map (n: f n s.${n}) (builtins.attrNames s));
            nameValuePair = name: value: { inherit name value; };
            nixosSystem = a: { config = { image.filePath = "kateskit.raw";
              system.build = { image = "/raw"; kateskitQcow2 = "/qcow2"; isoImage = a.modules; kateskitNetboot = a.modules; }; }; };
          };
          kit = import ./nix/lib.nix { nixpkgs = { inherit lib; }; self.nixosModules.kateskit = "kateskit"; };
          imgs = (kit.mkCluster ./examples/homelab).generic.images;
          sets = ms: builtins.filter builtins.isAttrs ms;
          has = path: ms: builtins.filter (m: (m.kateskit or { }) ? ${path}) (sets ms);
        in {
          isoImage = map (m: m.kateskit.install.image) (has "install" imgs.iso);
          netbootInstall = map (m: m.kateskit.install) (has "install" imgs.netboot);
          netbootSet = map (m: m.kateskit.netboot.installImage) (has "netboot" imgs.netboot);
        }"#,
    ) else {
        return;
    };
    assert_eq!(
        v,
        json!({
            "isoImage": ["/raw/kateskit.raw"],
            "netbootInstall": [],
            "netbootSet": ["/raw/kateskit.raw"]
        })
    );
}
