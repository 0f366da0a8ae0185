#!/usr/bin/env python3
"""The benchmark suite (run by scripts/bench): three full runs on this machine, each in a fresh
temporary home against the embedded emulator on loopback, saved whole to docs/bench-runs/ and
written up in docs/benchmarks.md (scripts/benchlib/report.py) from that saved file alone.

Every timed comparison is interleaved (A B A B ..., scripts/benchlib/timing.py), and reported
as the median of its per-pair ratios; the floors are static C programs built here.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import clients, heap, order, report, residency, timing  # noqa: E402
from benchlib.world import World  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
LOADGEN = RELEASE / "examples" / "loadgen"
# The same agent linked without link/daemon.order (scripts/bench builds it): P3's comparison.
UNORDERED = ROOT / "target" / "bench-unordered"
TOOLS = ROOT / "target" / "bench-tools"
RUNS_DIR = ROOT / "docs" / "bench-runs"
FULL_RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # fewer only to try the bench out
SESSIONS = 10
ROLES = 1000
AWS_V2 = "/usr/bin/aws"  # Debian's awscli (v2); a pip `aws` on PATH may be v1


def protocol_version():
    """The wire version the C round-trip floor must speak, from the agent's source."""
    source = (ROOT / "src" / "protocol.rs").read_text()
    return int(re.search(r"pub const PROTOCOL_VERSION: u32 = (\d+);", source).group(1))


def resident_text(world):
    """The agent's resident code by crate, or None where nm or readelf is missing."""
    try:
        return residency.resident_text_by_crate(world.agent.pid, world.bin)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"bench: no resident-code profile: {err}", file=sys.stderr)
        return None


def one_session_memory(bin_dir=RELEASE):
    """P3, one session: a config of 1 sso-session x 1,000 role profiles, every role cached."""
    world = World(bin_dir, sessions=1, roles=ROLES)
    try:
        world.start_agent()
        time.sleep(0.5)
        idle = world.memory()
        warm = world.loadgen(LOADGEN, 10, ROLES // 10, world.profiles(0))
        assert warm["errors"] == 0, warm
        time.sleep(0.5)
        return {"idle": idle, "cached": world.memory(), "cached_roles": len(world.status()["roles"]),
                "text": resident_text(world)}
    finally:
        world.close()


def static_helper():
    """The helper scripts/static-helper builds (static, non-PIE), if it was built."""
    built = ROOT / "target" / "static-helper" / "sso-agent-credential-process"
    return built if built.exists() else None


def p1(world, tools, profile):
    """The helpers against the static C floors, interleaved; each ratio is per pair."""
    commands = {"connect": [tools["connect_floor"]], "roundtrip": [tools["roundtrip_floor"]],
                "connect_dynamic": [tools["connect_dynamic"]],
                "helper": [world.helper, "--profile", profile]}
    if static_helper():
        commands["static"] = [static_helper(), "--profile", profile]
    commands["subcommand"] = [world.bin, "credential-process", "--profile", profile]
    measured = dict(zip(commands, timing.interleave(tools["interleave"], list(commands.values()),
                                                   rounds=500, warmup=20, env=world.env)))
    wall = {name: samples["wall_s"] for name, samples in measured.items()}
    out = {"helpers": [name for name in ("helper", "static") if name in commands]}
    for name in commands:
        out[f"{name}_ms"] = statistics.median(wall[name]) * 1e3
        out[f"{name}_rss_kib"] = statistics.median(measured[name]["maxrss_kib"])
        out[f"{name}_minor_faults"] = statistics.median(measured[name]["minor_faults"])
    out["roundtrip_per_connect"] = timing.pair_ratios(wall["roundtrip"], wall["connect"])
    out["connect_dynamic_per_connect"] = timing.pair_ratios(wall["connect_dynamic"], wall["connect"])
    for name in out["helpers"] + ["subcommand"]:
        out[f"{name}_per_connect"] = timing.pair_ratios(wall[name], wall["connect"])
        out[f"{name}_per_roundtrip"] = timing.pair_ratios(wall[name], wall["roundtrip"])
        out[f"{name}_above_connect_ms"] = statistics.median(
            h - c for h, c in zip(wall[name], wall["connect"])) * 1e3
    # The profile behind the figures: system calls of one run of each.
    out["syscalls"] = {name: timing.strace_command(commands[name], world.env, world.root / f"strace-{name}")
                       for name in ["connect", "roundtrip", "connect_dynamic"] + out["helpers"]}
    return out


def tools_row(world, tools, profile):
    """exec and the container endpoint next to /bin/true and the helper, interleaved."""
    url, token = world.container_grant(profile)
    samples = timing.interleave(tools["interleave"], [
        ["/bin/true"], [world.helper, "--profile", profile],
        [world.bin, "exec", "--profile", profile, "--", "/bin/true"],
        ["/usr/bin/curl", "-sf", "-o", "/dev/null", "-H", f"Authorization: {token}", url],
    ], rounds=200, warmup=10, env=world.env)
    true, helper, exec_, curl = (s["wall_s"] for s in samples)
    return {"true_ms": statistics.median(true) * 1e3, "helper_ms": statistics.median(helper) * 1e3,
            "exec_ms": statistics.median(exec_) * 1e3, "curl_ms": statistics.median(curl) * 1e3,
            "keepalive_us": endpoint_latency(url, token, 2000)}


def endpoint_latency(url, token, requests):
    """Median and p99 (µs) of `requests` GETs on one kept-alive connection (Python's http.client)."""
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", parts.path, headers={"Authorization": token})
        answer = connection.getresponse()
        assert answer.status == 200, answer.status
        answer.read()
        times.append((time.perf_counter() - started) * 1e6)
    connection.close()
    return {"p50": timing.quantile(times, 0.5), "p99": timing.quantile(times, 0.99)}


def user_comparisons(world, tools, profile):
    """What a user would run instead, each pair in one interleaved loop: the AWS CLI on our
    helper (it has no native path against the emulator: Debian's 2.9 ignores
    AWS_ENDPOINT_URL_SSO), then each client's native SSO path against its credential_process."""
    out = {}
    helper = [world.helper, "--profile", profile]
    aws = [AWS_V2, "configure", "export-credentials", "--profile", f"use-{profile}"]
    samples = timing.interleave(tools["interleave"], [helper, aws], rounds=10, warmup=2, env=world.env)  # the AWS CLI takes ~1 s a run
    out["aws_cli"] = {"ours_ms": statistics.median(samples[0]["wall_s"]) * 1e3,
                      "theirs_ms": statistics.median(samples[1]["wall_s"]) * 1e3,
                      "theirs_per_ours": timing.pair_ratios(samples[1]["wall_s"], samples[0]["wall_s"]),
                      "rounds": 10,
                      "what": "the AWS CLI (`aws configure export-credentials`) running our helper, against the helper "
                              "alone: what the CLI's own start-up adds, not a faster alternative (it has no native "
                              "SSO path against the emulator)"}
    for pair in clients.setup(world, RELEASE, world.helper):
        env = dict(world.env, **pair.get("env", {}))
        rounds = 15
        samples = timing.interleave(tools["interleave"], [pair["ours"], pair["theirs"]], rounds=rounds, warmup=2, env=env)
        ours, theirs = samples[0]["wall_s"], samples[1]["wall_s"]
        out[pair["name"]] = {"ours_ms": statistics.median(ours) * 1e3, "theirs_ms": statistics.median(theirs) * 1e3,
                             "theirs_per_ours": timing.pair_ratios(theirs, ours), "what": pair["what"],
                             "rounds": rounds}
    return out


def cpu_per_request(world, pid, socket, connections, per_connection, profiles):
    """One load run; its throughput and latency, and the server's CPU per request (µs)."""
    before = timing.cpu_seconds(pid)
    result = world.loadgen(LOADGEN, connections, per_connection, profiles, socket=socket)
    result["cpu_us_per_request"] = (timing.cpu_seconds(pid) - before) / result["requests"] * 1e6
    return result


def p2(world, tools, profile):
    """Throughput and latency on one cached role; at 64 clients, alternating with the floor
    server answering the same load, the agent's CPU per request as a multiple of the floor's."""
    out = {f"c{c}": world.loadgen(LOADGEN, c, n, [profile]) for c, n in [(1, 50000), (8, 12500)]}
    size = out["c1"]["answer_bytes"]
    floor_socket = world.root / "floor.sock"
    floor = subprocess.Popen([tools["floor_server"], floor_socket, str(size)], stdout=subprocess.PIPE, text=True)
    try:
        assert floor.stdout.readline().strip() == "listening"
        agent_runs, floor_runs = [], []
        for _ in range(3):
            agent_runs.append(cpu_per_request(world, world.agent.pid, world.socket, 64, 4000, [profile]))
            floor_runs.append(cpu_per_request(world, floor.pid, floor_socket, 64, 4000, [profile]))
    finally:
        floor.terminate()
        floor.wait()
    assert all(r["errors"] == 0 for r in agent_runs + floor_runs)
    middle = sorted(agent_runs, key=lambda r: r["per_second"])[1]
    out["c64"] = middle
    out["c64_runs"] = agent_runs
    out["floor_runs"] = floor_runs
    out["cpu_per_floor"] = timing.pair_ratios([r["cpu_us_per_request"] for r in agent_runs],
                                              [r["cpu_us_per_request"] for r in floor_runs])
    # The agent's system calls under the same load, per request (strace slows it; only the
    # counts are kept).
    calls, traced = timing.strace_process(world.agent.pid, world.root / "strace-agent",
                                          lambda: world.loadgen(LOADGEN, 64, 500, [profile]))
    out["syscalls_per_request"] = {name: count / traced["requests"] for name, count in calls.items()}
    return out


def flat_cost(world, few, every):
    """64 clients over 10 profiles, then over every profile, alternately: throughput ratio."""
    few_runs, many_runs = [], []
    for _ in range(3):
        few_runs.append(world.loadgen(LOADGEN, 64, 2000, few))
        many_runs.append(world.loadgen(LOADGEN, 64, 2000, every))
    assert all(r["errors"] == 0 for r in few_runs + many_runs)
    return {"few_per_second": statistics.median(r["per_second"] for r in few_runs),
            "many_per_second": statistics.median(r["per_second"] for r in many_runs),
            "many_per_few": timing.pair_ratios([r["per_second"] for r in many_runs],
                                               [r["per_second"] for r in few_runs]),
            "profiles": len(every)}


def heap_profiles():
    """P3's live heap by crate (heaptrack), for 1 x 1,000 and 10 x 1,000 cached roles: once, not
    in each run (heaptrack slows the agent; these explain the figures and are not figures)."""
    if not heap.available():
        print("bench: no heap profile: heaptrack is not installed", file=sys.stderr)
        return None
    profiles = {}
    for name, sessions in (("one_session", 1), ("full", SESSIONS)):
        world = None
        try:
            world = World(RELEASE, sessions=sessions, roles=ROLES)
            profiles[name] = heap.live_heap(world, LOADGEN, world.root / "heaptrack")
        except Exception as err:  # noqa: BLE001 - the runs are measured by now: keep them
            print(f"bench: no heap profile ({name}): {err!r}", file=sys.stderr)
        finally:
            if world:
                world.close()
    return profiles or None


def small_config_memory():
    """An idle agent on a config of one session and one profile (a typical home)."""
    small = World(RELEASE, sessions=1, roles=1)
    try:
        small.start_agent()
        time.sleep(0.5)
        return small.memory()
    finally:
        small.close()


def one_run(tools):
    figures = {"p3": {"small": small_config_memory(), "one_session": one_session_memory()}}
    if (UNORDERED / "sso-agent").exists():
        figures["p3"]["one_session_unordered"] = one_session_memory(UNORDERED)
    world = World(RELEASE, sessions=SESSIONS, roles=ROLES, cli_cache=True)
    try:
        idle_start = world.start_agent()
        figures["p3"]["idle"] = world.memory()

        # P4 first, on cold sessions: 64 processes at once, 8 roles of one session.
        before = (world.calls("StartDeviceAuthorization"), world.calls("GetRoleCredentials"))
        procs = [subprocess.Popen([world.bin, "credential-process", "--profile", f"s0-r{n % 8}"], env=world.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for n in range(64)]
        failed = sum(p.wait() != 0 for p in procs)
        figures["p4"] = {"device_flows": world.calls("StartDeviceAuthorization") - before[0],
                         "get_role_credentials": world.calls("GetRoleCredentials") - before[1], "failed": failed}

        profile = "s0-r0"
        world.credentials(profile)
        figures["p1"] = p1(world, tools, profile)
        figures["tools"] = tools_row(world, tools, profile)
        figures["users"] = user_comparisons(world, tools, profile)

        reads_before = world.status()["store_reads"]
        figures["p2"] = p2(world, tools, profile)
        figures["p4"]["reads_under_load"] = world.status()["store_reads"] - reads_before

        # Every session logged in and every role cached.
        logins = [subprocess.Popen([world.bin, "credential-process", "--profile", f"s{s}-r0"], env=world.env,
                                   stdout=subprocess.DEVNULL) for s in range(1, SESSIONS)]
        assert all(p.wait() == 0 for p in logins), "logins"
        every = [p for s in range(SESSIONS) for p in world.profiles(s)]
        warm = world.loadgen(LOADGEN, 10, len(every) // 10, every)
        assert warm["errors"] == 0, warm
        time.sleep(0.5)
        figures["p3"]["full"] = world.memory()
        figures["p3"]["cached_roles"] = len(world.status()["roles"])
        figures["flat"] = flat_cost(world, [f"s0-r{n}" for n in range(10)], every)

        # 1 M requests at 64 connections, every answer checked; memory before and after.
        before = world.memory()
        million = world.loadgen(LOADGEN, 64, 15625, every[:640])
        figures["million"] = {"load": million, "before": before, "after": world.memory(),
                              "peak_rss_kib": world.peak_rss_kib()}

        # P5: start-up with 10 sessions in the keyring, to the first answer.
        starts = []
        for _ in range(5):
            world.stop_agent()
            starts.append(world.start_agent())
        figures["p5"] = {"start_s": statistics.median(starts), "store_reads": world.status()["store_reads"],
                         "idle_start_s": idle_start}
    finally:
        world.close()
    return figures


def criterion(name):
    """A criterion figure from `cargo bench --bench request`: median and its 95% interval, in ns."""
    estimates = json.loads((ROOT / "target" / "criterion" / "request" / name / "new" / "estimates.json").read_text())
    median = estimates["median"]
    return {"median": median["point_estimate"], "low": median["confidence_interval"]["lower_bound"],
            "high": median["confidence_interval"]["upper_bound"]}


def machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return {"cores": len(os.sched_getaffinity(0)), "cpu": model,
            "kernel": subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()}


def render_saved(path):
    """`bench.py --report RUN.json`: docs/benchmarks.md again from a saved run (and the run saved
    before it), measuring nothing."""
    path = Path(path).resolve()
    earlier = [p for p in sorted(RUNS_DIR.glob("*.json")) if p.name < path.name]
    text = report.render(json.loads(path.read_text()), path.name, earlier[-1] if earlier else None)
    (ROOT / "docs" / "benchmarks.md").write_text(text)
    print(text)


def link_order():
    """Whether the measured agent was linked in link/daemon.order's order, and how many of its
    names it has (the ones it lacks changed since `scripts/order-file` and are laid out as if
    unordered)."""
    return order.applied(RELEASE / "sso-agent", ROOT / "link" / "daemon.order")


def main():
    if sys.argv[1:2] == ["--report"]:
        return render_saved(sys.argv[2])
    tools = timing.build_c(TOOLS, protocol_version())
    in_process = {name: criterion(name) for name in ("cached, 10 roles", "cached, 10000 roles", "decode")}
    previous = sorted(RUNS_DIR.glob("*.json")) if RUNS_DIR.exists() else []
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    runs = []
    for n in range(FULL_RUNS):
        print(f"full run {n + 1} of {FULL_RUNS}", file=sys.stderr, flush=True)
        runs.append(one_run(tools))
    saved = {
        "schema": 2, "commit": commit, "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sizes": {"sso-agent": (RELEASE / "sso-agent").stat().st_size,
                  "sso-agent-credential-process": (RELEASE / "sso-agent-credential-process").stat().st_size,
                  "static helper": static_helper().stat().st_size if static_helper() else None},
        "criterion": in_process,
        "sessions": SESSIONS, "roles": ROLES,
        "link_order": link_order(),
        "runs": runs,
        "heap": heap_profiles(),
    }
    RUNS_DIR.mkdir(exist_ok=True)
    path = RUNS_DIR / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json")
    path.write_text(json.dumps(saved, indent=1) + "\n")
    text = report.render(saved, path.name, previous[-1] if previous else None)
    (ROOT / "docs" / "benchmarks.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
