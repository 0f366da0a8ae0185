"""Which code the agent's file-backed memory holds: the binary's resident text pages
(/proc/PID/pagemap: its present bit, which needs no privilege), each attributed to the crates whose functions lie on it (the
symbol table, `nm`). The kernel maps pages around each one touched, so a resident page is not
always code that ran; it is what the RSS counts."""

import bisect
import collections
import re
import struct
import subprocess
from pathlib import Path

PAGE = 4096
# A demangled name's crate: the first segment of its path; for the standard library's generic
# code instantiated for a crate's type (`core::ptr::drop_in_place<aws_sdk_sso::…>`), the first
# crate named inside it. The agent's own code is split by module, so the emulator's shows.
PATH_START = re.compile(r"(?:^|[<\s(&*,\[])([A-Za-z_][A-Za-z0-9_]*)::([A-Za-z_][A-Za-z0-9_]*)?")
STANDARD = {"core", "alloc", "std"}


def crate_of(name):
    paths = PATH_START.findall(name)
    if not paths:
        return "C code (no Rust path)"
    crate, module = next((p for p in paths if p[0] not in STANDARD), paths[0])
    if crate in STANDARD:
        return "std (core, alloc)"
    return f"{crate}::{module}" if crate == "sso_agent" and module else crate


def text_symbols(binary):
    """Sorted (start, end, crate) of the binary's functions."""
    out = subprocess.run(["nm", "-C", "-S", "--defined-only", str(binary)], capture_output=True,
                         text=True, check=True).stdout
    symbols = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("t", "T", "W", "w"):
            start, size = int(parts[0], 16), int(parts[1], 16)
            if size:
                symbols.append((start, start + size, crate_of(parts[3])))
    symbols.sort()
    return symbols


def text_segment(binary):
    """(file offset, virtual address) of the executable LOAD segment."""
    out = subprocess.run(["readelf", "-lW", str(binary)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"] and "E" in fields[6:-1]:
            return int(fields[1], 16), int(fields[2], 16)
    raise ValueError(f"no executable segment in {binary}")


def resident_text_by_crate(pid, binary):
    """KiB of the binary's resident text per crate, and the resident and total text KiB."""
    binary = Path(binary).resolve()
    seg_offset, seg_vaddr = text_segment(binary)
    symbols = text_symbols(binary)
    starts = [s[0] for s in symbols]
    by_crate = collections.Counter()
    resident = total = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            if len(fields) < 6 or "x" not in fields[1] or Path(fields[5]) != binary:
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            offset = int(fields[2], 16)
            pagemap.seek(lo // PAGE * 8)
            entries = pagemap.read((hi - lo) // PAGE * 8)
            for n in range((hi - lo) // PAGE):
                total += PAGE
                (entry,) = struct.unpack_from("<Q", entries, n * 8)
                if not entry >> 63 & 1:
                    continue
                resident += PAGE
                page = seg_vaddr + offset - seg_offset + n * PAGE
                i = max(bisect.bisect_right(starts, page) - 1, 0)
                covered = 0
                while i < len(symbols) and symbols[i][0] < page + PAGE:
                    start, end, crate = symbols[i]
                    overlap = min(end, page + PAGE) - max(start, page)
                    if overlap > 0:
                        by_crate[crate] += overlap
                        covered += overlap
                    i += 1
                by_crate["(between functions)"] += PAGE - min(covered, PAGE)
    return {"resident_kib": resident // 1024, "text_kib": total // 1024,
            "by_crate_kib": {crate: round(b / 1024) for crate, b in by_crate.most_common()}}
