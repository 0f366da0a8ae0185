"""Measuring: the C floors and the interleaving driver (built here with the system's cc), the
statistics every figure goes through, and the CPU time of a running process."""

import json
import os
import signal
import time
import statistics
import subprocess
from pathlib import Path

C_SOURCES = Path(__file__).resolve().parent.parent.parent / "benches" / "c"


def build_c(out_dir, protocol_version):
    """Builds the floors and the driver into out_dir; returns their paths by name. The client
    floors are static (`cc -O2 -static`): no loader, no runtime, the physical floor of a
    process that talks to the socket."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = json.dumps({"version": protocol_version, "type": "credentials", "profile": "s0-r0",
                        "wait": False}, separators=(",", ":"))
    builds = {
        "connect_floor": ["-static", C_SOURCES / "connect.c"],
        # The same program as cc links it by default (dynamic, PIE): what the loader alone costs.
        "connect_dynamic": ["-fPIE", "-pie", C_SOURCES / "connect.c"],
        "roundtrip_floor": ["-static", f"-DFRAME={json.dumps(frame)}", C_SOURCES / "roundtrip.c"],
        "floor_server": [C_SOURCES / "floor_server.c"],
        "interleave": [C_SOURCES / "interleave.c"],
    }
    built = {}
    for name, arguments in builds.items():
        built[name] = out_dir / name
        subprocess.run(["cc", "-O2", "-Wall", "-o", built[name], *arguments], check=True)
    return built


def interleave(driver, commands, rounds, warmup, env):
    """Runs the commands in turn, round after round (A B A B ...); returns per command its
    samples: wall seconds, CPU seconds, peak RSS (KiB), minor page faults."""
    argv = [str(driver), str(rounds), str(warmup)]
    for n, command in enumerate(commands):
        argv += ([":::"] if n else []) + [str(part) for part in command]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    data = json.loads(out)
    return [{key: data[key][n] for key in ("wall_s", "cpu_s", "maxrss_kib", "minor_faults")}
            for n in range(len(commands))]


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def spread(values):
    """A sample's median and its spread: the quartiles and the extremes."""
    out = {"median": statistics.median(values), "p25": quantile(values, 0.25),
           "p75": quantile(values, 0.75), "min": min(values), "max": max(values)}
    if len(values) < 5:
        # Quartiles of so few are the extremes: the report lists the values instead.
        out["values"] = list(values)
    return out


def pair_ratios(numerators, denominators):
    """The ratio of each pair taken in the same round: drift between rounds cancels."""
    return spread([a / b for a, b in zip(numerators, denominators)])


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid):
    """The process's resident memory, split: anonymous (heap, stacks: its own) and file-backed
    (pages mapped from the binary and libraries, shared and reclaimable)."""
    rollup = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        rollup[key] = int(value.split()[0])
    return {"rss": rollup["Rss"], "anonymous": rollup["Anonymous"],
            "file_backed": rollup["Rss"] - rollup["Anonymous"]}


def parse_strace_summary(text):
    """`strace -c` output as {syscall: calls} (its table: % time, seconds, usecs/call, calls,
    [errors,] syscall)."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    return counts


def strace_command(command, env, out):
    """The system calls one run of `command` makes, as {syscall: calls}."""
    subprocess.run(["strace", "-f", "-c", "-o", str(out), *map(str, command)], check=True,
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return parse_strace_summary(Path(out).read_text())


def strace_process(pid, out, during):
    """The system calls a running process (every thread) makes while `during()` runs."""
    tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attaching to every thread
    result = during()
    tracer.send_signal(signal.SIGINT)
    tracer.wait()
    return parse_strace_summary(Path(out).read_text()), result
