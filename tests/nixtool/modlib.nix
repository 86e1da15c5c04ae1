# Stand-in for the parts of nixpkgs' `lib` the KatesKit modules use, for the Nix evaluation
# tier without nixpkgs. The property functions build the same values as nixpkgs
# lib/modules.nix, and `resolve` applies them to a set of module `config` values the way the
# module system does, so a case asks "which definition wins" rather than reading a module's
# raw output. tests/nix_modlib.rs checks it against the semantics documented in nixpkgs.
#
# Differences from the real thing, on purpose: no option declarations, so an attribute whose
# definitions are all attribute sets is treated as a namespace (merged by name) and anything
# else as an option value; option values merge by concatenating lists or taking one value
# all definitions agree on (nixpkgs' mergeEqualOption); anything else is a conflict error.
let
  inherit (builtins) all any attrNames concatMap filter foldl' head isAttrs isBool isList
    length listToAttrs mapAttrs sort tail zipAttrsWith;

  # lib/modules.nix defaultOverridePriority and defaultOrderPriority.
  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  typeOf = v: if isAttrs v then v._type or null else null;

  # lib/modules.nix mkIf / mkMerge / mkOverride / mkOrder (same attribute layout).
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOrder = priority: content: { _type = "order"; inherit priority content; };

  # The content under if/override/merge wrappers is an attribute set (a namespace level).
  setLike = v:
    let t = typeOf v; in
    if t == "if" || t == "override" then setLike v.content
    else if t == "merge" then all setLike v.contents
    else isAttrs v && t == null;

  # lib/modules.nix pushDownProperties: mkMerge splices its contents; mkIf and mkOverride over
  # an attribute set move onto each attribute.
  pushDown = cfg:
    let t = typeOf cfg; in
    if t == "merge" then concatMap pushDown cfg.contents
    else if t == "if" then map (mapAttrs (n: v: mkIf cfg.condition v)) (pushDown cfg.content)
    else if t == "override" then map (mapAttrs (n: v: mkOverride cfg.priority v)) (pushDown cfg.content)
    else [ cfg ];

  # lib/modules.nix dischargeProperties: mkMerge splices, mkIf keeps its content only when its
  # condition is true (and insists on a Boolean); mkOverride and mkOrder stay for later.
  discharge = path: def:
    let t = typeOf def; in
    if t == "merge" then concatMap (discharge path) def.contents
    else if t == "if" then
      if !isBool def.condition then throw "${path}: mkIf called with a non-Boolean condition"
      else if def.condition then discharge path def.content else [ ]
    else [ def ];

  # lib/modules.nix filterOverrides': only the definitions with the lowest priority number
  # survive, stripped of their mkOverride.
  filterOverrides = defs:
    let
      prio = d: if typeOf d == "override" then d.priority else defaultOverridePriority;
      best = foldl' (p: d: if prio d < p then prio d else p) 9999 defs;
    in
    map (d: if typeOf d == "override" then d.content else d) (filter (d: prio d == best) defs);

  # lib/modules.nix sortProperties: mkOrder definitions sorted by priority (stable), others at
  # defaultOrderPriority.
  sortProperties = defs:
    let
      withPrio = map (d: if typeOf d == "order" then { p = d.priority; v = d.content; } else { p = defaultOrderPriority; v = d; }) defs;
    in
    map (x: x.v) (sort (a: b: a.p < b.p) withPrio);

  # One option value from its definitions, after the properties are applied.
  mergeValues = path: defs:
    let
      left = filter (d: typeOf d != null) defs;
    in
    if defs == [ ] then throw "${path}: no definition survives (all under a false mkIf or outranked)"
    else if left != [ ] then throw "${path}: definition of type ${(head left)._type} left after merging (a property where a value is expected)"
    else if all isList defs then concatMap (x: x) defs
    else if all (d: d == head defs) (tail defs) then head defs
    else throw "${path}: conflicting definitions at the same priority: ${builtins.toJSON defs}";

  valueOf = path: defs:
    mergeValues path (sortProperties (filterOverrides (concatMap (discharge path) defs)));

  # Whether any definition of an attribute survives its mkIf conditions.
  defined = path: defs: concatMap (discharge path) defs != [ ];

  # The merged configuration of several module `config` values (each may be wrapped in
  # mkIf/mkMerge/mkOverride), lazily per attribute, as the module system merges definitions.
  resolveAt = path: defs:
    if defs != [ ] && all setLike defs then
      let
        sets = concatMap pushDown defs;
        byName = zipAttrsWith (n: vs: vs) sets;
        kept = filter (n: defined "${path}.${n}" byName.${n}) (attrNames byName);
      in
      listToAttrs (map (n: { name = n; value = resolveAt "${path}.${n}" byName.${n}; }) kept)
    else valueOf path defs;
in
rec {
  inherit mkIf mkMerge mkOverride mkOrder defaultOverridePriority;
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;

  resolve = configs: resolveAt "config" configs;

  # Plain helpers the modules call (lib/lists.nix, lib/strings.nix, lib/attrsets.nix).
  optional = c: x: if c then [ x ] else [ ];
  optionals = c: xs: if c then xs else [ ];
  optionalString = c: s: if c then s else "";
  optionalAttrs = c: s: if c then s else { };
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  concatStringsSep = builtins.concatStringsSep;
  concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
  concatMapStrings = f: l: builtins.concatStringsSep "" (map f l);
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  hasSuffix = x: s:
    let n = builtins.stringLength s; k = builtins.stringLength x; in
    n >= k && builtins.substring (n - k) k s == x;
  removePrefix = p: s:
    let n = builtins.stringLength p; in
    if builtins.substring 0 n s == p then builtins.substring n (-1) s else s;
  getExe = p: "${p}/bin/kateskit";
  # nixpkgs takes each package's `bin` output when it has one; the stand-in packages are
  # plain strings.
  makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
}
