"""The daemon's link order (`link/daemon.order`, read by build.rs): the functions of the release
agent that run when it starts, logs in (one session exporting the AWS CLI's token cache), fetches
every role of S sessions x R roles, answers them again from its cache (64 clients at once too),
serves `exec` and the container-credentials endpoint, and starts once more with its tokens in
the keyring, found by callgrind, in their current address order.

The names are the symbol table's (mangled, so the linker can match them); their hashes depend on
the toolchain, Cargo.lock and the package's source, so the file's first line says which rustc
wrote it (lld skips `#` lines). A function this run never reached is laid out after them, as
before; a name the next build lacks is skipped by the linker, so a stale file costs resident
memory, never a failed build. Valgrind's virtual CPU reports fewer CPU features than the machine,
so code that picks a path by CPU feature (aws-lc, sha2, memchr) may run another one outside it."""

import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from .world import World

FN = re.compile(r"^(c?fn)=(?:\((\d+)\))? ?(.*)$")
OB = re.compile(r"^(c?ob)=(?:\((\d+)\))? ?(.*)$")


def _profiled_agent(world, out):
    agent = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
         world.bin, "daemon"],
        env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(6000):
        if agent.poll() is not None:
            raise RuntimeError(f"the agent under callgrind exited with {agent.returncode}")
        if subprocess.run([world.bin, "status", "--json"], env=world.env,
                          capture_output=True).returncode == 0:
            return agent
        time.sleep(0.02)
    agent.kill()
    agent.wait()
    raise RuntimeError("the agent under callgrind never answered")


def _stop(agent):
    """SIGTERM: the agent exits as under a service manager, and callgrind writes its profile."""
    if agent.poll() is None:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=300)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def _ask_every_role(world, loadgen, sessions, roles):
    for session in range(sessions):
        result = world.loadgen(loadgen, 10, max(1, roles // 10), world.profiles(session))
        if result["errors"]:
            raise RuntimeError(f"the profiled agent failed requests: {result}")


def _other_tools(world, loadgen):
    """`exec`, the container-credentials endpoint and 64 clients at once, as scripts/bench runs."""
    profile = world.profiles(0)[0]
    world.run([world.bin, "exec", "--profile", profile, "--", "/bin/true"])
    url, token = world.container_grant(profile)
    for _ in range(3):
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": token})) as answer:
            answer.read()
    result = world.loadgen(loadgen, 64, 20, world.profiles(0)[:64])
    if result["errors"]:
        raise RuntimeError(f"the profiled agent failed requests: {result}")
    world.run([world.bin, "status"])


def profile(bin_dir, loadgen, sessions, roles, scratch):
    """Runs the agent under callgrind through the workload; the profiles it wrote."""
    world = World(bin_dir, sessions=sessions, roles=roles, cli_cache=True)
    profiles = [Path(scratch) / "first.out", Path(scratch) / "restarted.out"]
    agent = None
    try:
        # Logs in, fetches every role, then answers every one from its cache, and the rest.
        agent = _profiled_agent(world, profiles[0])
        _ask_every_role(world, loadgen, sessions, roles)
        _ask_every_role(world, loadgen, sessions, roles)
        _other_tools(world, loadgen)
        _stop(agent)
        # Starts with its tokens in the keyring, as after a reboot, and fetches again.
        agent = _profiled_agent(world, profiles[1])
        _ask_every_role(world, loadgen, sessions, roles)
        _stop(agent)
    finally:
        if agent is not None:
            _stop(agent)
        world.agent = None
        world.close()
    return profiles


def executed(profile_file, binary_name):
    """The names of the functions of `binary_name` that the profile saw run. Callgrind names a
    file or function once as `fn=(N) name`, then as `fn=(N)`; `ob=` is the object, `cfn=` and
    `cob=` a callee's."""
    tables = {"ob": {}, "fn": {}}
    seen, current = set(), None
    for line in open(profile_file, errors="replace"):
        match = OB.match(line) or FN.match(line)
        if not match:
            continue
        kind, key, name = match.groups()
        table = tables[kind.removeprefix("c")]
        if key:
            if name:
                table[key] = name
            name = table.get(key, "")
        if kind == "ob":
            current = name
        elif kind == "fn" and current and Path(current).name == binary_name and name:
            seen.add(name)
    return seen


def _function_addresses(binary, kinds):
    """Each function symbol of `binary` whose nm type is in `kinds`, and its address."""
    table = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                           check=True).stdout
    address = {}
    for fields in map(str.split, table.splitlines()):
        if len(fields) == 3 and fields[1] in kinds:
            address.setdefault(fields[2], int(fields[0], 16))
    return address


def write_order(binary, names, out, rustc_version):
    """`names` that are functions of `binary`, in its address order, one per line."""
    address = _function_addresses(binary, "tTwW")
    ordered = sorted((address[name], name) for name in names if name in address)
    if not ordered:
        raise RuntimeError(f"none of the {len(names)} functions seen run is in {binary}'s symbol table")
    lines = [f"# {rustc_version}: written by scripts/order-file, read by build.rs\n"]
    Path(out).write_text("".join(lines + [f"{name}\n" for _, name in ordered]))
    return len(ordered)


def names_of(order_file):
    """The function names of an order file (its `#` lines are comments)."""
    return [line.strip() for line in Path(order_file).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def applied(binary, order_file):
    """How the measured binary has the order: how many of its names it has, and whether the
    linker took the file (those functions come first, in the file's order)."""
    names = names_of(order_file)
    address = _function_addresses(binary, "tT")
    placed = [address[name] for name in names if name in address]
    ordered = set(placed)
    others = [at for at in address.values() if at not in ordered]
    first = bool(placed) and placed == sorted(placed) and (not others or max(placed) < min(others))
    return {"names": len(names), "in_binary": len(placed), "laid_out_first": first}
