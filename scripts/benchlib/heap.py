"""Whose heap the agent holds once every role is cached: the agent runs under heaptrack (Debian's
package: it preloads into the unmodified release binary), is killed with SIGKILL at the moment
the bench would read its memory, so every allocation still live then counts as "leaked", and
each live byte goes to the crate of the innermost frame of its allocation's stack that is not
the standard library, hashbrown, bytes or futures-util, which only carry an allocation for their
caller (a `Vec` grown inside `serde_json` counts for `serde_json`; one grown in the agent's
`protocol::encode` counts for the agent). The profiled agent is one of its own, not the one whose
RSS the runs read."""

import collections
import os
import re
import shutil
import signal
import subprocess
import time

from .residency import crate_of

# Frames that only carry an allocation further in: their caller is the one who holds it.
NOT_AN_OWNER = {"std (core, alloc)", "hashbrown", "bytes", "futures_util", "C code (no Rust path)"}
# heaptrack demangles legacy Rust symbols but leaves their escapes ($LT$, ..) and hash suffix.
LEGACY_ESCAPES = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$C$": ",", "$RF$": "&", "$BP$": "*",
                  "$u7b$": "{", "$u7d$": "}", "$u27$": "'", "$u5b$": "[", "$u5d$": "]", "$LP$": "(",
                  "$RP$": ")", "$SP$": "@", "$u3b$": ";", "$u22$": '"', "..": "::"}
LEGACY_HASH = re.compile(r"::h[0-9a-f]{16}$")
# v0 names (c++filt's) carry each crate's disambiguator: `std[e28293b1aa0f68bd]::sys`.
V0_CRATE_HASH = re.compile(r"\[[0-9a-f]{16}\]")


def available():
    return all(shutil.which(tool) for tool in ("heaptrack", "heaptrack_print", "c++filt"))


def readable(frame):
    name = frame.split(" (", 1)[0]  # heaptrack appends "(file.c)" to C frames
    if name.startswith("_$"):
        name = name[1:]
    for escape, text in LEGACY_ESCAPES.items():
        name = name.replace(escape, text)
    return V0_CRATE_HASH.sub("", LEGACY_HASH.sub("", name))


def live_heap(world, loadgen, output):
    """Runs `world`'s agent under heaptrack, caches every role of every session, kills it, and
    returns the live heap by owning crate and by allocating function."""
    log = open(world.root / "agent.log", "a")
    # Its own process group: heaptrack's script, the agent it runs, and its interpreter and
    # compressor all go with one kill, whatever fails.
    tracer = subprocess.Popen(["heaptrack", "-o", str(output), world.bin, "daemon"], env=world.env,
                              stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([world.bin, "status", "--json"], env=world.env, capture_output=True).returncode:
            if time.monotonic() > deadline or tracer.poll() is not None:
                raise RuntimeError(f"the agent did not start under heaptrack (its log, {world.root / 'agent.log'}, "
                                   "says why): " + (world.root / "agent.log").read_text()[-2000:])
            time.sleep(0.01)
        # heaptrack's script runs the agent as its child.
        agent = int(subprocess.run(["pgrep", "-P", str(tracer.pid), "-f", "daemon"], capture_output=True,
                                   text=True, check=True).stdout.split()[0])
        for session in range(len(world.sessions)):
            warm = world.loadgen(loadgen, 10, world.roles // 10, world.profiles(session))
            assert warm["errors"] == 0, warm
        time.sleep(0.5)
        os.kill(agent, signal.SIGKILL)
        tracer.wait(timeout=120)  # heaptrack writes out what the agent left allocated
    finally:
        try:
            os.killpg(tracer.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        tracer.wait()
        log.close()
    recorded = f"{output}.zst" if os.path.exists(f"{output}.zst") else f"{output}.gz"
    folded = f"{output}.folded"
    subprocess.run(["heaptrack_print", "-f", recorded, "--flamegraph-cost-type", "leaked", "-F", folded],
                   check=True, capture_output=True)
    return attribute(open(folded).read().splitlines())


def attribute(folded_lines):
    """{"live_kib", "by_crate_kib", "by_function_kib"} from heaptrack's folded stacks (root first)."""
    stacks = []
    for line in folded_lines:
        stack, _, cost = line.rpartition(" ")
        stacks.append(([f for f in stack.rstrip(";").split(";") if f], int(cost)))
    raw = sorted({frame.split(" (", 1)[0] for frames, _ in stacks for frame in frames})
    # Symbols heaptrack left mangled (v0, which the standard library uses) go through c++filt.
    demangled = subprocess.run(["c++filt"], input="\n".join(raw), capture_output=True, text=True,
                               check=True).stdout.splitlines()
    names = {name: readable(plain) for name, plain in zip(raw, demangled)}
    by_crate = collections.Counter()
    by_function = collections.Counter()
    for frames, cost in stacks:
        owner, function = "C code (no Rust path)", "(no Rust frame)"
        for frame in reversed(frames):
            name = names[frame.split(" (", 1)[0]]
            crate = crate_of(name)
            if crate not in NOT_AN_OWNER:
                owner, function = crate, name
                break
        by_crate[owner] += cost
        by_function[function] += cost
    kib = lambda counter: {key: round(value / 1024) for key, value in counter.most_common() if value >= 1024}
    if not by_crate:
        raise RuntimeError("heaptrack recorded no live allocation")
    return {"live_kib": round(sum(by_crate.values()) / 1024), "by_crate_kib": kib(by_crate),
            "by_function_kib": dict(list(kib(by_function).items())[:12]), "carriers": sorted(NOT_AN_OWNER)}
