# The targets a unit file's [Install] `<key>=` lines name (WantedBy, RequiredBy): NixOS ignores a
# packaged unit's [Install], so modules restate it as `wantedBy`/`requiredBy`. Builtins only:
# also evaluated by the project's Nix tests without nixpkgs.
key: text:
builtins.concatMap
  (l:
    let m = builtins.match "${key}=(.*)" l;
    in if m == null then [ ]
    else builtins.filter (w: builtins.isString w && w != "") (builtins.split " " (builtins.head m)))
  (builtins.filter builtins.isString (builtins.split "\n" text))
