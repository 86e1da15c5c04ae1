# cluster.toml -> { <node name> = <public NodeConfig>; }
#
# The same function as Rust's `kateskit::nodecfg::render_public` (src/nodecfg/render.rs), with
# builtins only. `tests/nix_render.rs` evaluates this file for every example and compares each
# node with the Rust output, so the two cannot drift apart. Secrets are never part of it: they
# live outside the Nix store and are stamped into images by `kateskit image customize`.
#
# Argument: a path to cluster.toml, a directory holding one, or a parsed attrset.
src:
let
  inherit (builtins) filter length head elem listToAttrs map replaceStrings split foldl' hasAttr;

  spec = import ./spec.nix src;
  inherit (spec) cluster network bundle nodes;

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;

  servers = filter (n: n.role == "server") nodes;
  firstServer =
    if servers == [ ] then throw "cluster ${cluster.name}: no node has role = \"server\"; set it on at least one node"
    else head servers;
  multi = length servers > 1;
  # Embedded etcd unless the spec opts into SQLite (single server only), as the Rust renderer.
  etcd =
    if cluster.datastore == "sqlite" && multi
    then throw "cluster ${cluster.name}: datastore = \"sqlite\" serves one k3s server; use datastore = \"etcd\" for several"
    else cluster.datastore == "etcd";

  # First static address without its prefix length; null when the node uses DHCP.
  primaryIp = n:
    if n ? network && n.network.addresses != [ ] then head (split "/" (head n.network.addresses)) else null;

  # A server's supervisor URL: its first static address, else its name.
  supervisorUrl = s: let ip = primaryIp s; in "https://${if ip == null then s.name else ip}:6443";
  # Joining nodes use the VIP when set, else the first server.
  joinUrl = if network ? api_vip then "https://${network.api_vip}:6443" else supervisorUrl firstServer;

  # A node's static addresses without their prefix length.
  addresses = n: if n ? network then map (a: head (split "/" a)) n.network.addresses else [ ];
  # VIP, then tls_sans, then every server's name and static addresses, without repeats.
  serverNames = builtins.concatMap (s: [ s.name ] ++ addresses s) servers;
  tlsSans = foldl' (acc: s: if elem s acc then acc else acc ++ [ s ])
    [ ] ((if network ? api_vip then [ network.api_vip ] else [ ]) ++ network.tls_sans ++ serverNames);

  # The interface every server's static network names, when all name the same one (kube-vip
  # runs as one DaemonSet on every server); null otherwise.
  serverIfaces = map (s: if s ? network && s.network ? interface then s.network.interface else null) servers;
  vipInterface = let f = head serverIfaces; in
    if f != null && builtins.all (i: i == f) serverIfaces then f else null;

  # k3s packaged components that are off, in k3s's `--disable` order.
  disabled = map (p: p.name) (filter (p: !p.on) [
    { name = "coredns"; on = bundle.coredns.enable; }
    { name = "servicelb"; on = bundle.servicelb.enable; }
    { name = "traefik"; on = bundle.traefik.enable; }
    { name = "local-storage"; on = bundle.storage == "local-path"; }
    { name = "metrics-server"; on = bundle.metrics_server.enable; }
  ]);

  # Servers and every node's OSD disks: what Rook's CephCluster is rendered from.
  cephLayout = {
    servers = length servers;
    server_taints = builtins.concatMap (s: s.taints) servers;
    nodes = map (n: { inherit (n) name taints; devices = map (d: d.by_id) n.osd_disks; })
      (filter (n: n.osd_disks != [ ]) nodes);
  } // (if bundle ? rook && bundle.rook ? replicas then { inherit (bundle.rook) replicas; } else { });

  renderNode = n:
    let
      server = n.role == "server";
      isFirst = n.name == firstServer.name;
      ip = primaryIp n;
    in {
      apiVersion = "kateskit.dev/v1";
      kind = "NodeConfig";
      cluster = { inherit (cluster) name domain; };
      node = {
        inherit (n) name role labels taints;
        macs = map toLower n.macs;
      }
      // (if n ? install_disk then { inherit (n) install_disk; } else { })
      // (if n ? network then { inherit (n) network; } else { });
      host = {
        hostname = n.name;
        inherit (cluster) ssh_authorized_keys timezone ntp_servers;
      };
      k3s = {
        cluster_init = isFirst && (etcd || multi);
        server_urls = map supervisorUrl (filter (s: s.name != n.name) servers);
        inherit (network) flannel_backend cluster_cidr service_cidr;
        cluster_domain = cluster.domain;
        tls_sans = if server then tlsSans else [ ];
        disable = if server then disabled else [ ];
      }
      // (if isFirst then { } else { server_url = joinUrl; })
      // (if ip == null then { } else { node_ip = ip; })
      // (if server && network ? api_vip then { inherit (network) api_vip; } else { })
      // (if server && network ? api_vip && vipInterface != null then { api_vip_interface = vipInterface; } else { });
      storage = { driver = bundle.storage; inherit (n) osd_disks; }
        // (if server && bundle.storage == "rook-ceph" then { ceph_cluster = cephLayout; } else { });
    }
    // (if server then { inherit bundle; } else { });

  dupes = foldl' (acc: n: if hasAttr n.name acc.seen then acc // { dup = n.name; } else acc // { seen = acc.seen // { ${n.name} = true; }; })
    { seen = { }; dup = null; } nodes;
in
if dupes.dup != null then throw "cluster ${cluster.name}: node name `${dupes.dup}` is used twice; give every node a unique name"
else listToAttrs (map (n: { name = n.name; value = renderNode n; }) nodes)
