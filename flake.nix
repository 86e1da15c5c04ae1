{
  description = "KatesKit: generic NixOS k3s appliance images (ISO, netboot, raw) and their modules";

  # nixos-26.05 is the newest stable branch; docs/nixos-options.md records the source.
  # flake.lock is written by Nix on the first `nix build` / `nix flake check` (it needs the
  # download to compute narHash); commit it afterwards to pin the revision.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      kit = import ./nix/lib.nix { inherit nixpkgs self; };
      homelab = kit.mkCluster { spec = ./examples/homelab; inherit system; };
    in
    {
      packages.${system} = {
        kateskit = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${system}.kateskit;
      } // homelab.generic.images;

      nixosModules = {
        kateskit = import ./modules { inherit self; };
        default = self.nixosModules.kateskit;
        installer = ./installer;
      };

      lib = { inherit (kit) mkCluster render; };

      nixosConfigurations = homelab.nixosConfigurations;

      checks.${system} = import ./nix/checks.nix { inherit pkgs self kit; };

      devShells.${system}.default = pkgs.callPackage ./nix/shell.nix {
        kateskit = self.packages.${system}.kateskit;
      };
    };
}
