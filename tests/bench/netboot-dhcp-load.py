"""DHCP load generator for tests/bench/netboot (run inside the client namespace).

Sends DISCOVERs as UEFI PXE firmware does (options 60, 93, 94, 97), each from the next of
MACS distinct locally administered MACs (cycling), keeping WINDOW requests outstanding
(closed loop: every OFFER or a 1 s timeout lets the next one out), for SECS seconds.
Prints one line: offers/s, offers, lost, p50 and p99 latency (ms) and this process's CPU share
(near 1.0 means the generator, not the server, set the pace).

usage: python3 netboot-dhcp-load.py IFACE SECS [MACS [WINDOW]]
"""

import os
import select
import socket
import struct
import sys
import time

SO_BINDTODEVICE = 25
TIMEOUT = 1.0


def discover(xid, mac):
    head = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000,
                       b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4)
    chaddr = mac + b"\0" * 10
    vendor = b"PXEClient:Arch:00007:UNDI:003016"
    opts = bytes([53, 1, 1])
    opts += bytes([55, 7, 1, 3, 6, 43, 60, 66, 67])
    opts += bytes([60, len(vendor)]) + vendor
    opts += bytes([93, 2, 0, 7])
    opts += bytes([94, 3, 1, 3, 16])
    opts += bytes([97, 17, 0]) + b"\x11" * 10 + mac
    opts += bytes([255])
    pkt = head + chaddr + b"\0" * 192 + bytes([99, 130, 83, 99]) + opts
    return pkt + b"\0" * max(0, 300 - len(pkt))


def is_offer(pkt):
    """True for a BOOTREPLY whose option 53 says OFFER."""
    if len(pkt) < 240 or pkt[0] != 2 or pkt[236:240] != bytes([99, 130, 83, 99]):
        return False
    i = 240
    while i < len(pkt):
        code = pkt[i]
        if code == 255:
            return False
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(pkt):
            return False
        n = pkt[i + 1]
        if code == 53 and n == 1 and i + 2 < len(pkt):
            return pkt[i + 2] == 2
        i += 2 + n
    return False


def main():
    iface, secs = sys.argv[1], float(sys.argv[2])
    macs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    window = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(("0.0.0.0", 68))
    s.setblocking(False)
    base = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    seq = 0
    pending = {}
    latencies = []
    lost = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    end = t0 + secs

    def send():
        nonlocal seq
        xid = (base + seq) & 0xFFFFFFFF
        n = seq % macs
        mac = bytes([0x02, 0x6B, 0x6B, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
        s.sendto(discover(xid, mac), ("255.255.255.255", 67))
        pending[xid] = time.monotonic()
        seq += 1

    for _ in range(window):
        send()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        r, _, _ = select.select([s], [], [], min(0.05, end - now))
        while r:
            try:
                pkt = s.recv(2048)
            except BlockingIOError:
                break
            if not is_offer(pkt):
                continue
            xid = struct.unpack("!I", pkt[4:8])[0]
            sent = pending.pop(xid, None)
            if sent is None:
                continue
            latencies.append(time.monotonic() - sent)
            if time.monotonic() < end:
                send()
        now = time.monotonic()
        for xid in [x for x, t in pending.items() if now - t > TIMEOUT]:
            del pending[xid]
            lost += 1
            if now < end:
                send()
    elapsed = time.monotonic() - t0
    cpu = (time.process_time() - cpu0) / elapsed
    latencies.sort()

    def pct(p):
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    print("%.0f %d %d %.2f %.2f %.2f" % (len(latencies) / elapsed, len(latencies), lost,
                                         pct(0.5), pct(0.99), cpu))


if __name__ == "__main__":
    main()
