# The kateskit binary (library + CLI). Tests that need root, loop devices, QEMU or Nix stay
# out of the sandbox: `doCheck` runs the unit tests only (`cargo test --lib`).
{ lib, stdenv, rustPlatform, pkg-config, util-linux, installShellFiles }:

rustPlatform.buildRustPackage {
  pname = "kateskit";
  version = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).package.version;

  # Only what cargo reads, so editing docs or Nix files does not rebuild the binary.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../bundle
      ../examples
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  # libblkid-rs links libblkid (util-linux) and generates its bindings with bindgen, which
  # needs libclang; bindgenHook sets LIBCLANG_PATH and the C include flags.
  nativeBuildInputs = [ pkg-config rustPlatform.bindgenHook installShellFiles ];
  buildInputs = [ util-linux ];

  cargoTestFlags = [ "--lib" ];
  # The `test-hooks` cargo feature (KATESKIT_* overrides for tests, src/hooks.rs) stays off:
  # this binary ignores them, which `cargo test --lib` proves (hooks::tests).
  buildFeatures = [ ];

  # Completions and man pages come from the clap definitions (`kateskit generate`, docs/cli.md),
  # so they need the built binary to run on the build machine.
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd kateskit \
      --bash <($out/bin/kateskit generate completions --shell bash) \
      --zsh <($out/bin/kateskit generate completions --shell zsh) \
      --fish <($out/bin/kateskit generate completions --shell fish)
    $out/bin/kateskit generate man --out man
    installManPage man/*.1
  '';

  meta = {
    description = "Turn bare metal into k3s nodes: cluster spec, PKI, image stamping and the first-boot agent";
    license = lib.licenses.asl20;
    mainProgram = "kateskit";
    platforms = lib.platforms.linux;
  };
}
