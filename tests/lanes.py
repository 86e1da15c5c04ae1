#!/usr/bin/env python3
"""Runs every test binary of `cargo test`, two at a time, at most one heavy one.

`cargo test` runs its binaries one after another, and most of them leave the CPU idle while
they wait on a socket, a loop device or a guest. Here two workers take binaries from a queue
(the longest first), each binary with its own --test-threads, and at most one of the binaries
that boot QEMU guests for minutes (HEAVY) runs at any time, so their guests never share the
cores with more than one other binary. Each binary's output is printed whole when it ends, then a table of
durations; the exit status is 1 when any binary failed or overran its bound.

Usage: tests/lanes.py [--test-threads N] [--workers N] [--bound SECONDS] [-- CARGO_ARGS...]
CARGO_ARGS go to `cargo test --no-run` (default: --locked --features test-hooks).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

# Binaries that boot QEMU guests for minutes (firmware, several guests, a systemd root),
# longest first. A binary not listed runs as a light one; that includes the qemu_* tiers, whose
# one short guest each (seconds, against bounds of minutes) may share the cores with them.
HEAVY = [
    "systemd_boot",
    "upgrade_boot",
    "netboot_uefi",
    "netboot_qemu_fleet",
    "netboot_boot",
    "netboot_uefi_http",
]
# Light binaries known to take longest, started first so no worker is left with one at the end.
SLOW_LIGHT = [
    "disk_matrix",
    "upgrade_rollout",
    "install_url",
    "netboot_doctor",
    "agent_reprovision",
    "agent_crash",
    "qemu_efi_install",
    "qemu_agent",
    "agent_disks",
    "netboot_dhcp",
]


def binaries(cargo_args):
    """(label, name, executable) of every test binary, built by `cargo test --no-run`."""
    cmd = ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics"] + cargo_args
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    found = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg["profile"]["test"]:
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        target = msg["target"]
        kind = target["kind"][0]
        if kind == "test":
            label = f"tests/{target['name']}.rs"
        else:
            label = f"unittests {os.path.relpath(target['src_path'])}"
        found.append((label, target["name"] if kind == "test" else label, exe))
    return found


class Queue:
    """Jobs for the workers: at most one HEAVY binary runs at any time."""

    def __init__(self, jobs):
        self.heavy = [j for j in jobs if j[1] in HEAVY]
        self.heavy.sort(key=lambda j: HEAVY.index(j[1]))
        rank = {n: i for i, n in enumerate(SLOW_LIGHT)}
        self.light = sorted(
            (j for j in jobs if j[1] not in HEAVY),
            key=lambda j: (rank.get(j[1], len(rank)), j[0]),
        )
        self.heavy_running = False
        self.cond = threading.Condition()

    def take(self):
        with self.cond:
            while True:
                if self.heavy and not self.heavy_running:
                    self.heavy_running = True
                    return self.heavy.pop(0), True
                if self.light:
                    return self.light.pop(0), False
                if not self.heavy:
                    return None, False
                self.cond.wait()

    def done(self, heavy):
        with self.cond:
            if heavy:
                self.heavy_running = False
            self.cond.notify_all()


def run_one(job, threads, bound):
    label, _, exe = job
    with tempfile.TemporaryFile() as log:
        start = time.monotonic()
        proc = subprocess.Popen(
            [exe, f"--test-threads={threads}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=bound)
            verdict = "passed" if rc == 0 else f"FAILED (exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -1
            verdict = f"FAILED (still running after its bound of {bound} s; killed)"
        took = time.monotonic() - start
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    return label, rc == 0, verdict, took, text


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--bound", type=int, default=1500, help="seconds one binary may take")
    p.add_argument("cargo_args", nargs="*", default=["--locked", "--features", "test-hooks"])
    args = p.parse_args()

    jobs = binaries(args.cargo_args)
    queue = Queue(jobs)
    out_lock = threading.Lock()
    results = []
    t0 = time.monotonic()

    def worker():
        while True:
            job, heavy = queue.take()
            if job is None:
                return
            label, ok, verdict, took, text = run_one(job, args.test_threads, args.bound)
            with out_lock:
                sys.stdout.write(f"\n==== {label}: {verdict} in {took:.1f} s\n{text}")
                sys.stdout.flush()
                results.append((label, ok, verdict, took))
            queue.done(heavy)

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    print(f"\ntests/lanes: {len(results)} binaries in {time.monotonic() - t0:.0f} s; slowest:")
    for label, _, _, took in sorted(results, key=lambda r: -r[3])[:15]:
        print(f"  {took:7.1f} s  {label}")
    failed = [r for r in results if not r[1]]
    for label, _, verdict, _ in failed:
        print(f"tests/lanes: {label} {verdict}", file=sys.stderr)
    if len(results) != len(jobs):
        print("tests/lanes: not every binary ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
