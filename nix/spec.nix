# cluster.toml -> the cluster spec with every serde default filled in.
#
# Builtins only (no nixpkgs `lib`), so `nix-instantiate --eval` can run it on machines without a
# nixpkgs checkout, and so Rust (src/spec/model.rs) and Nix read the file the same way.
# Semantic validation (CIDR overlaps, MAC syntax, ...) is `kateskit cluster check`'s job; this
# file only rejects what would make the result wrong: unknown keys, wrong shapes, no server.
#
# Argument: a path to cluster.toml, a directory holding one, or an already parsed attrset.
src:
let
  inherit (builtins) attrNames filter length head elem isAttrs isList isString concatStringsSep
    pathExists readFile fromTOML hasAttr;

  raw =
    if isAttrs src then src
    else if pathExists (src + "/cluster.toml") then fromTOML (readFile (src + "/cluster.toml"))
    else fromTOML (readFile src);

  where = if isAttrs src then "cluster spec" else toString src;

  # deny_unknown_fields, as the Rust model does.
  known = ctx: keys: t:
    let bad = filter (k: !(elem k keys)) (attrNames t);
    in if !(isAttrs t) then throw "${where}: ${ctx} must be a table"
       else if bad == [ ] then t
       else throw "${where}: unknown key `${head bad}` in ${ctx}; the keys it accepts are: ${concatStringsSep ", " keys}";

  get = t: k: d: if hasAttr k t then t.${k} else d;

  # Keys whose serde attribute is `skip_serializing_if = "Option::is_none"` are copied only when
  # present, so absent stays absent.
  opt = t: k: if hasAttr k t then { ${k} = t.${k}; } else { };

  oneOf = ctx: allowed: v:
    if isString v && elem v allowed then v
    else throw "${where}: ${ctx} = ${builtins.toJSON v} is not one of: ${concatStringsSep ", " allowed}";

  cluster =
    let c = known "[cluster]" [ "name" "domain" "ssh_authorized_keys" "timezone" "ntp_servers" "datastore" ]
      (get raw "cluster" (throw "${where}: the [cluster] table is missing; add [cluster] with name = \"...\""));
    in {
      name = get c "name" (throw "${where}: [cluster] has no name; add name = \"<dns-label>\"");
      domain = get c "domain" "cluster.local";
      ssh_authorized_keys = get c "ssh_authorized_keys" [ ];
      timezone = get c "timezone" "UTC";
      ntp_servers = get c "ntp_servers" [ ];
      datastore = oneOf "cluster.datastore" [ "etcd" "sqlite" ] (get c "datastore" "etcd");
    };

  network =
    let n = known "[network]" [ "flannel_backend" "cluster_cidr" "service_cidr" "api_vip" "tls_sans" ]
      (get raw "network" { });
    in {
      flannel_backend = oneOf "network.flannel_backend" [ "vxlan" "host-gw" "wireguard-native" ]
        (get n "flannel_backend" "vxlan");
      cluster_cidr = get n "cluster_cidr" "10.42.0.0/16";
      service_cidr = get n "service_cidr" "10.43.0.0/16";
      tls_sans = get n "tls_sans" [ ];
    } // opt n "api_vip";

  # A component table: `enable` defaults to false inside the table; the whole table's default
  # (on or off) applies only when the key is absent.
  component = name: dflt: b:
    if !(hasAttr name b) then { enable = dflt; }
    else
      let c = known "[bundle.${name}]" [ "enable" "values" ] b.${name};
      in { enable = get c "enable" false; }
         // (if get c "values" { } == { } then { } else { values = c.values; });

  bundle =
    let b = known "[bundle]" [ "coredns" "traefik" "servicelb" "metrics_server" "storage" "dex"
      "auth_proxy" "dashboard" "cert_manager" "internal_dns" "kube_vip" "rook" ] (get raw "bundle" { });
    in {
      coredns = component "coredns" true b;
      traefik = component "traefik" true b;
      servicelb = component "servicelb" true b;
      metrics_server = component "metrics_server" true b;
      storage = oneOf "bundle.storage" [ "local-path" "longhorn" "rook-ceph" ] (get b "storage" "local-path");
      dex = component "dex" false b;
      auth_proxy = component "auth_proxy" false b;
      dashboard = component "dashboard" false b;
      cert_manager = component "cert_manager" false b;
      internal_dns = component "internal_dns" false b;
      kube_vip = component "kube_vip" false b;
    }
    // (if hasAttr "rook" b then { rook = opt (known "[bundle.rook]" [ "replicas" ] b.rook) "replicas"; } else { });

  diskSelector = ctx: d:
    let s = known ctx [ "by_id" "min_size_gib" "max_size_gib" "model" "serial" ] d;
    in opt s "by_id" // opt s "min_size_gib" // opt s "max_size_gib" // opt s "model" // opt s "serial";

  osdDisk = ctx: d:
    let s = known ctx [ "by_id" "wipe" "confirm_serial" "foreign_fsid" ] d;
    in {
      by_id = get s "by_id" (throw "${where}: ${ctx} has no by_id; add by_id = \"/dev/disk/by-id/...\"");
      wipe = oneOf "${ctx}.wipe" [ "never" "if-foreign" "always" ] (get s "wipe" "never");
    } // opt s "confirm_serial" // opt s "foreign_fsid";

  staticNetwork = ctx: d:
    let s = known ctx [ "interface" "addresses" "gateway" "dns" ] d;
    in opt s "interface" // {
      addresses = get s "addresses" (throw "${where}: ${ctx} has no addresses; add addresses = [\"192.0.2.11/24\"] or remove it for DHCP");
      dns = get s "dns" [ ];
    } // opt s "gateway";

  node = i: n0:
    let
      ctx = "nodes[${toString i}]";
      n = known ctx [ "name" "role" "macs" "install_disk" "osd_disks" "labels" "taints" "network" ] n0;
    in {
      name = get n "name" (throw "${where}: ${ctx} has no name; add name = \"<dns-label>\"");
      role = oneOf "${ctx}.role" [ "server" "agent" ] (get n "role" (throw "${where}: ${ctx} has no role; add role = \"server\" or \"agent\""));
      macs = get n "macs" [ ];
      osd_disks = builtins.genList (j: osdDisk "${ctx}.osd_disks[${toString j}]" (builtins.elemAt (get n "osd_disks" [ ]) j))
        (length (get n "osd_disks" [ ]));
      labels = get n "labels" { };
      taints = get n "taints" [ ];
    }
    // (if hasAttr "install_disk" n then { install_disk = diskSelector "${ctx}.install_disk" n.install_disk; } else { })
    // (if hasAttr "network" n then { network = staticNetwork "${ctx}.network" n.network; } else { });

  rawNodes = get raw "nodes" [ ];
  nodes =
    if !(isList rawNodes) then throw "${where}: nodes must be an array of tables ([[nodes]])"
    else builtins.genList (i: node i (builtins.elemAt rawNodes i)) (length rawNodes);

  top = known "the top level" [ "cluster" "network" "bundle" "nodes" ] raw;
in
builtins.seq top { inherit cluster network bundle nodes; }
