"""The daemon's link order (`link/daemon.order`, read by build.rs): the functions of the release
agent that run when it starts, logs in, fetches every role of S sessions x R roles and answers
them from its cache, found by callgrind, in their current address order.

The names are the symbol table's (mangled, so the linker can match them). A function this run
never reached is laid out after them, as before; a name the next build lacks is skipped by the
linker, so a stale file costs resident memory, never a failed build."""

import re
import signal
import subprocess
import time
from pathlib import Path

from .world import World

FN = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")
OB = re.compile(r"^(c?ob)=\((\d+)\)(?: (.*))?$")


def profile(bin_dir, loadgen, sessions, roles, out):
    """Runs the agent under callgrind through the P3 workload; writes its profile to `out`."""
    world = World(bin_dir, sessions=sessions, roles=roles)
    try:
        world.agent = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             world.bin, "daemon"],
            env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(6000):
            if subprocess.run([world.bin, "status", "--json"], env=world.env,
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.02)
        for session in range(sessions):
            result = world.loadgen(loadgen, 10, roles // 10, world.profiles(session))
            if result["errors"]:
                raise RuntimeError(f"the profiled agent failed requests: {result}")
        # SIGTERM: the agent exits as it does under a service manager, and callgrind writes out.
        world.agent.send_signal(signal.SIGTERM)
        world.agent.wait(timeout=300)
    finally:
        world.agent = None
        world.close()


def executed(profile_file, binary_name):
    """The names of the functions of `binary_name` that the profile saw run."""
    names, objects, seen, current = {}, {}, set(), None
    for line in open(profile_file, errors="replace"):
        if match := OB.match(line):
            kind, key, name = match.groups()
            if name:
                objects[key] = name
            if kind == "ob":
                current = objects[key]
        elif match := FN.match(line):
            kind, key, name = match.groups()
            if name:
                names[key] = name
            if kind == "fn" and current and Path(current).name == binary_name:
                seen.add(names[key])
    return seen


def write_order(binary, names, out):
    """`names` that are functions of `binary`, in its address order, one per line."""
    table = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                           check=True).stdout
    address = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "tTwW":
            address.setdefault(fields[2], int(fields[0], 16))
    ordered = sorted((address[name], name) for name in names if name in address)
    Path(out).write_text("".join(f"{name}\n" for _, name in ordered))
    return len(ordered)
