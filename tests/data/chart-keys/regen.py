#!/usr/bin/env python3
"""Regenerate the chart key lists in this directory from each locked chart's values.yaml.

Every file `<chart>-<version>.txt` here lists the key paths of one chart's values.yaml at the
version bundle/charts.toml pins; tests/bundle_chart_keys.rs checks every key path KatesKit
renders into that chart's values against it. The lists are generated, never edited by hand:

    python3 tests/data/chart-keys/regen.py --clones DIR [--archives DIR]

Sources, in order of preference (the header of each list names the one used):
  1. --archives DIR holding the published archive `<chart>-<version>.tgz` (as `url` in the
     lock names it): its SHA-256 must equal the lock's `digest`, then `<chart>/values.yaml`
     is read from it.
  2. An archive committed to the publisher's Git repository (k8s_gateway serves its Helm
     repository from `charts/` on its default branch): same digest check.
  3. The chart's source repository at the release tag (SOURCES below): `git show
     <tag>:<path>`. Used where the archive is not reachable; the published chart is packaged
     from that directory at that tag.
The committed lists came from source 3 (the published archives were not reachable), except
k8s-gateway's, read from its committed archive (source 2) after the digest check; the repositories
were snapshots of dexidp/helm-charts, oauth2-proxy/manifests, kubernetes-sigs/headlamp,
cert-manager/cert-manager, ori-edge/k8s_gateway, longhorn/longhorn, rook/rook and
ceph/ceph-csi-operator (whose release workflow packages the chart of tag v<version> with that
version, though its Chart.yaml in Git says 0.2.0) and kube-vip/helm-charts.
--only COMPONENT (repeatable) rewrites just those components' lists and keeps the others, for
a pin bumped while the other repositories are not at hand.
--clones DIR holds Git clones (bare or not) of the repositories in SOURCES, found as
DIR/<owner>+<name>/repo, DIR/<owner>+<name> or DIR/<name>. Nothing at test time reads them:
the generated lists are committed.

A list holds the key paths of values.yaml plus every `.Values.<path>` the chart's templates
reference: charts document optional keys (an Ingress's `className`, `hosts`, `tls`) only as
comments in values.yaml, yet their templates read them.

Key path format: one line per key, segments joined by `.`, a `.` inside a key written `\\.`,
list elements as `[]` (only maps inside lists have sub-paths). Needs PyYAML.
"""
import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tomllib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
LOCK = os.path.join(ROOT, "bundle", "charts.toml")

# component -> (repository, tag pattern, values.yaml path at that tag, archive path or None)
SOURCES = {
    "dex": ("dexidp/helm-charts", "dex-{version}", "charts/dex/values.yaml", None),
    "auth_proxy": ("oauth2-proxy/manifests", "oauth2-proxy-{version}",
                   "helm/oauth2-proxy/values.yaml", None),
    "dashboard": ("kubernetes-sigs/headlamp", "headlamp-helm-{version}",
                  "charts/headlamp/values.yaml", None),
    "cert_manager": ("cert-manager/cert-manager", "{version}",
                     "deploy/charts/cert-manager/values.yaml", None),
    "internal_dns": ("ori-edge/k8s_gateway", "HEAD", None, "charts/k8s-gateway-{version}.tgz"),
    "longhorn": ("longhorn/longhorn", "v{version}", "chart/values.yaml", None),
    "rook_ceph": ("rook/rook", "{version}", "deploy/charts/rook-ceph/values.yaml", None),
    "rook_csi_drivers": ("ceph/ceph-csi-operator", "v{version}",
                         "deploy/charts/ceph-csi-drivers/values.yaml", None),
    "kube_vip": ("kube-vip/helm-charts", "kube-vip-{version}", "charts/kube-vip/values.yaml", None),
    "kube_vip_cloud_provider": ("kube-vip/helm-charts", "kube-vip-cloud-provider-{version}",
                                "charts/kube-vip-cloud-provider/values.yaml", None),
}


def clone(clones, repo):
    owner, name = repo.split("/")
    for cand in (f"{owner}+{name}/repo", f"{owner}+{name}", name):
        path = os.path.join(clones, cand)
        if os.path.isdir(path):
            return path
    sys.exit(f"regen.py: no clone of {repo} under {clones}; clone it there (see the header)")


def git(path, *args):
    return subprocess.run(["git", "-C", path, *args], check=True, capture_output=True).stdout


def from_archive(data, locked, where):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if digest != locked["digest"]:
        sys.exit(f"regen.py: {where} has {digest}, bundle/charts.toml pins {locked['digest']}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        top = f"{locked['chart']}/"
        templates = [tar.extractfile(m).read() for m in tar.getmembers()
                     if m.isfile() and m.name.startswith(top + "templates/")]
        return tar.extractfile(top + "values.yaml").read(), templates


def values_for(component, locked, args):
    version = locked["version"]
    name = f"{locked['chart']}-{version}.tgz"
    if args.archives and os.path.isfile(os.path.join(args.archives, name)):
        with open(os.path.join(args.archives, name), "rb") as f:
            return (*from_archive(f.read(), locked, name), f"archive {locked['url']} (digest checked)")
    repo, tag, path, archive = SOURCES[component]
    src = clone(args.clones, repo)
    if archive:
        archive = archive.format(version=version)
        commit = git(src, "rev-parse", "HEAD").decode().strip()
        data = git(src, "show", f"{commit}:{archive}")
        return (*from_archive(data, locked, archive), f"archive {repo} @ {commit} : {archive} (digest checked)")
    tag = tag.format(version=version)
    commit = git(src, "rev-parse", f"{tag}^{{commit}}").decode().strip()
    tdir = os.path.dirname(path) + "/templates"
    names = git(src, "ls-tree", "-r", "--name-only", commit, tdir).decode().split()
    templates = [git(src, "show", f"{commit}:{n}") for n in names]
    return git(src, "show", f"{commit}:{path}"), templates, f"{repo} @ {commit} (tag {tag}) : {path}"


def referenced(templates, out):
    """Adds `.Values.a.b.c` references (and their parents) found in the templates."""
    for text in templates:
        for m in re.finditer(rb"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            segs = m.group(1).decode().lstrip(".").split(".")
            for i in range(1, len(segs) + 1):
                out.add(".".join(segs[:i]))


def paths(node, prefix, out):
    if isinstance(node, dict):
        for key, value in node.items():
            p = (prefix + "." if prefix else "") + str(key).replace(".", "\\.")
            out.add(p)
            paths(value, p, out)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                out.add(prefix + "[]")
                paths(item, prefix + "[]", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clones", required=True)
    ap.add_argument("--archives")
    ap.add_argument("--only", action="append", choices=sorted(SOURCES))
    args = ap.parse_args()
    with open(LOCK, "rb") as f:
        lock = tomllib.load(f)
    chosen = args.only or list(SOURCES)
    for component in chosen:
        if args.only:
            # This chart's lists of any version, not another chart's sharing the prefix.
            stale = re.compile(re.escape(lock[component]["chart"]) + r"-v?[0-9][^-]*\.txt")
            for f in os.listdir(HERE):
                if stale.fullmatch(f):
                    os.remove(os.path.join(HERE, f))
    if not args.only:
        for old in os.listdir(HERE):
            if old.endswith(".txt"):
                os.remove(os.path.join(HERE, old))
    for component in chosen:
        locked = lock[component]
        text, templates, source = values_for(component, locked, args)
        keys = set()
        paths(yaml.safe_load(text) or {}, "", keys)
        referenced(templates, keys)
        out = os.path.join(HERE, f"{locked['chart']}-{locked['version']}.txt")
        with open(out, "w") as f:
            f.write(f"# {component}: key paths of values.yaml, generated by regen.py; do not edit\n")
            f.write(f"# source: {source}, and the .Values references of its templates/\n")
            f.write("".join(k + "\n" for k in sorted(keys)))
        print(f"{out}: {len(keys)} keys from {source}")


if __name__ == "__main__":
    main()
