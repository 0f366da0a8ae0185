"""docs/benchmarks.md from one saved run (docs/bench-runs/*.json) and nothing else: every figure
is read from that file, and the comparison with the run before reads that run's file."""

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MIB = 1024


def values(saved, get):
    return [get(run) for run in saved["runs"]]


def median_of(saved, get):
    return statistics.median(values(saved, get))


def across(saved, get, unit="", digits=2, scale=1.0):
    """The median of the runs' figures, and their range."""
    got = [v * scale for v in values(saved, get)]
    mid = statistics.median(got)
    return f"{mid:,.{digits}f}{unit} (runs {min(got):,.{digits}f}–{max(got):,.{digits}f})"


def ratio_across(saved, get):
    """A per-pair ratio: the median of the runs' medians, their range, and the quartiles of the
    pairs within the middle run."""
    runs = sorted(values(saved, get), key=lambda r: r["median"])
    middle = runs[len(runs) // 2]
    pairs = (f"pairs {', '.join(f'{v:.2f}' for v in middle['values'])}" if "values" in middle
             else f"pairs p25–p75 {middle['p25']:.2f}–{middle['p75']:.2f}")
    return f"{middle['median']:.2f}× (runs {runs[0]['median']:.2f}–{runs[-1]['median']:.2f}; {pairs})"


def verdict(ok):
    return "met" if ok else "**missed**"


def memory_row(label, saved, get, target_mib=None):
    rss = median_of(saved, lambda run: get(run)["rss"])
    cells = [f"{across(saved, lambda run: get(run)['rss'], ' MiB', 1, 1 / MIB)}; "
             f"anonymous {median_of(saved, lambda run: get(run)['anonymous']) / MIB:.1f}, "
             f"file-backed {median_of(saved, lambda run: get(run)['file_backed']) / MIB:.1f} MiB"]
    if target_mib is None:
        return f"| P3 | {label} | {cells[0]} | | |"
    return f"| P3 | {label} | {cells[0]} | ≤ {target_mib} MiB | {verdict(rss <= target_mib * MIB)} |"


def per_role_bytes(saved, idle, cached, roles):
    return median_of(saved, lambda run: (cached(run)["anonymous"] - idle(run)["anonymous"]) * 1024 / roles(run))


def render(saved, saved_name, previous_path):
    runs = len(saved["runs"])
    m = saved["machine"]
    lines = [
        "# sso-agent benchmarks",
        "",
        f"`scripts/bench` at commit {saved['commit']}, {saved['started']}: {runs} full runs, each in a fresh",
        f"temporary home, on {m['cores']} cores ({m['cpu']}, Linux {m['kernel']}), release build, against the",
        "embedded emulator on loopback, tokens in the real Secret Service. Every figure below is read from",
        f"`docs/bench-runs/{saved_name}`, which that run wrote.",
        "",
        "How to read a figure: the median of the runs' figures, then their range. A ratio comes from",
        "one interleaved loop (A B A B …, `benches/c/interleave.c`): each pair taken back to back gives",
        "one ratio; a run reports the median of its pairs, and the quartiles of the middle run's pairs",
        "show their spread (fewer than 5 pairs are listed). The floors are C programs the bench builds",
        "(`benches/c/`); each round of the loop starts one command later, so none always follows the same one.",
        "",
        "The rows and their targets (from the project's performance issue): P1 is one `credential_process`",
        "call, start to exit; P2 the agent's throughput and CPU on cached answers; flat the cost of many",
        "profiles; P3 the agent's memory; P4 how many upstream calls many cold callers cause; P5 start-up",
        "and the in-process cost of a request; tools and users what other commands and clients take.",
        "",
        "| # | figure | measured | target | |",
        "|---|---|---|---|---|",
    ]
    p1 = lambda run: run["p1"]
    lines += [
        f"| P1 | floor: static C program that connects to the socket and exits | {across(saved, lambda r: p1(r)['connect_ms'], ' ms')} | | |",
        f"| P1 | floor: static C round trip (one request frame, the whole answer read) | {across(saved, lambda r: p1(r)['roundtrip_ms'], ' ms')}; {ratio_across(saved, lambda r: p1(r)['roundtrip_per_connect'])} the connect floor | | |",
    ]
    if "connect_dynamic_ms" in saved["runs"][0]["p1"]:
        lines.append(f"| P1 | the connect floor linked as `cc` links by default (dynamic, PIE): the loader and libc, nothing else | {across(saved, lambda r: p1(r)['connect_dynamic_ms'], ' ms')}; {ratio_across(saved, lambda r: p1(r)['connect_dynamic_per_connect'])} the connect floor | | |")
    names = {"static": "`sso-agent-credential-process` as the README installs it on Linux (`scripts/static-helper`: static, non-PIE)",
             "helper": "`sso-agent-credential-process` as `cargo install` alone builds it (dynamic, PIE: what macOS, or Linux without glibc's static library, runs; measured here on Linux)"}
    for name in [name for name in names if name in saved["runs"][0]["p1"]["helpers"]]:
        ratio = median_of(saved, lambda r: p1(r)[f"{name}_per_connect"]["median"])
        rss = median_of(saved, lambda r: p1(r)[f"{name}_rss_kib"])
        lines += [
            f"| P1 | {names[name]}, warm cache | {across(saved, lambda r: p1(r)[f'{name}_ms'], ' ms')} | | |",
            f"| P1 | … ratio to the connect floor | {ratio_across(saved, lambda r: p1(r)[f'{name}_per_connect'])} | ≤ 1.25× | {verdict(ratio <= 1.25)} |",
            f"| P1 | … ratio to the round-trip floor | {ratio_across(saved, lambda r: p1(r)[f'{name}_per_roundtrip'])} | | |",
            f"| P1 | … time above the connect floor, per pair | {across(saved, lambda r: p1(r)[f'{name}_above_connect_ms'], ' ms', 3)} | | |",
            f"| P1 | … peak RSS (wait4 `ru_maxrss`) | {across(saved, lambda r: p1(r)[f'{name}_rss_kib'], ' MiB', 2, 1 / MIB)}; the connect floor's {median_of(saved, lambda r: p1(r)['connect_rss_kib']) / MIB:.2f} MiB | ≤ 2 MiB | {verdict(rss <= 2 * MIB)} |",
        ]
    lines.append(f"| P1 | `sso-agent credential-process` (the subcommand, same answer) | {across(saved, lambda r: p1(r)['subcommand_ms'], ' ms')}, {ratio_across(saved, lambda r: p1(r)['subcommand_per_connect'])} the connect floor, peak RSS {median_of(saved, lambda r: p1(r)['subcommand_rss_kib']) / MIB:.1f} MiB | | |")
    tools = lambda run: run["tools"]
    lines += [
        f"| tools | `/bin/true` (a dynamically linked process's start-up) | {across(saved, lambda r: tools(r)['true_ms'], ' ms')} | | |",
        f"| tools | `sso-agent-credential-process` (same loop) | {across(saved, lambda r: tools(r)['helper_ms'], ' ms')} | | |",
        f"| tools | `sso-agent exec -- /bin/true` (to the child's exit) | {across(saved, lambda r: tools(r)['exec_ms'], ' ms')} | | |",
        f"| tools | `curl` of the container-credentials endpoint (curl's start-up included) | {across(saved, lambda r: tools(r)['curl_ms'], ' ms')} | | |",
        f"| tools | one endpoint request on a kept-alive connection, p50 / p99 | {median_of(saved, lambda r: tools(r)['keepalive_us']['p50']):.0f} / {median_of(saved, lambda r: tools(r)['keepalive_us']['p99']):.0f} µs | | |",
    ]
    for name in saved["runs"][0]["users"]:
        user = lambda run, name=name: run["users"][name]
        lines.append(f"| users | {name}: {user(saved['runs'][0])['what']} | ours {across(saved, lambda r: user(r)['ours_ms'], ' ms', 1)}, "
                     f"theirs {across(saved, lambda r: user(r)['theirs_ms'], ' ms', 1)}; theirs ÷ ours {ratio_across(saved, lambda r: user(r)['theirs_per_ours'])} | | |")
    p2 = lambda run: run["p2"]
    c64 = median_of(saved, lambda r: p2(r)["c64"]["per_second"])
    c64_p99 = median_of(saved, lambda r: p2(r)["c64"]["p99_us"])
    cpu_ratio = median_of(saved, lambda r: p2(r)["cpu_per_floor"]["median"])
    for clients in ("c1", "c8", "c64"):
        lines.append(f"| P2 | {clients[1:]} client(s): requests/s; p50 / p99 | {across(saved, lambda r: p2(r)[clients]['per_second'], '/s', 0)}; "
                     f"{median_of(saved, lambda r: p2(r)[clients]['p50_us']):.0f} / {median_of(saved, lambda r: p2(r)[clients]['p99_us']):.0f} µs | | |")
    lines += [
        f"| P2 | at 64 clients | {c64:,.0f}/s, p99 {c64_p99:.0f} µs | ≥ 200k/s, p99 < 1 ms | {verdict(c64 >= 200000 and c64_p99 < 1000)} |",
        f"| P2 | agent CPU per cached request | {across(saved, lambda r: statistics.median(x['cpu_us_per_request'] for x in p2(r)['c64_runs']), ' µs')} | | |",
        f"| P2 | floor server (C, epoll, one fixed answer) CPU per request, same load | {across(saved, lambda r: statistics.median(x['cpu_us_per_request'] for x in p2(r)['floor_runs']), ' µs')}; {across(saved, lambda r: statistics.median(x['per_second'] for x in p2(r)['floor_runs']), '/s', 0)} | | |",
        f"| P2 | … agent ÷ floor | {ratio_across(saved, lambda r: p2(r)['cpu_per_floor'])} | ≤ 1.5× | {verdict(cpu_ratio <= 1.5)} |",
        f"| P2 | agent system calls per request (strace, 64 clients) | {syscalls(saved)} | | |",
    ]
    flat = lambda run: run["flat"]
    flat_ratio = median_of(saved, lambda r: flat(r)["many_per_few"]["median"])
    lines += [
        f"| flat | 64 clients over 10 profiles → over {saved['runs'][0]['flat']['profiles']:,} | {median_of(saved, lambda r: flat(r)['few_per_second']):,.0f}/s → {median_of(saved, lambda r: flat(r)['many_per_second']):,.0f}/s; ratio {ratio_across(saved, lambda r: flat(r)['many_per_few'])} | ≥ 0.90× | {verdict(flat_ratio >= 0.9)} |",
    ]
    p3 = lambda run: run["p3"]
    one_per_role = per_role_bytes(saved, lambda r: p3(r)["one_session"]["idle"], lambda r: p3(r)["one_session"]["cached"],
                                  lambda r: p3(r)["one_session"]["cached_roles"])
    full_per_role = per_role_bytes(saved, lambda r: p3(r)["idle"], lambda r: p3(r)["full"], lambda r: p3(r)["cached_roles"])
    sessions, roles = saved["sessions"], saved["roles"]
    lines += [
        memory_row("agent RSS, idle, one session and one profile", saved, lambda r: p3(r)["small"]),
        memory_row(f"agent RSS, 1 session × {roles:,} profiles, idle", saved, lambda r: p3(r)["one_session"]["idle"]),
        memory_row(f"agent RSS, 1 session × {roles:,} cached roles", saved, lambda r: p3(r)["one_session"]["cached"], 12),
        f"| P3 | … anonymous bytes per cached role (cached − idle, ÷ roles) | {one_per_role:,.0f} B | | |",
    ]
    if all("one_session_unordered" in p3(run) for run in saved["runs"]):
        lines.append(memory_row(f"agent RSS, 1 session × {roles:,} cached roles, the same agent linked without "
                                "`link/daemon.order` (`SSO_AGENT_NO_LINK_ORDER`)", saved,
                                lambda r: p3(r)["one_session_unordered"]["cached"]))
    lines += [
        memory_row(f"agent RSS, {sessions} sessions × {roles:,} profiles, idle", saved, lambda r: p3(r)["idle"]),
        memory_row(f"agent RSS, {sessions} sessions × {roles:,} cached roles", saved, lambda r: p3(r)["full"], 20),
        f"| P3 | … anonymous bytes per cached role | {full_per_role:,.0f} B | | |",
    ]
    p4 = lambda run: run["p4"]
    worst = lambda key: max(values(saved, lambda r: p4(r)[key]))
    lines += [
        f"| P4 | 64 concurrent cold callers, 8 roles of a logged-out session: device flows (worst run) | {worst('device_flows')} | 1 | {verdict(worst('device_flows') == 1)} |",
        f"| P4 | … GetRoleCredentials calls (worst run) | {worst('get_role_credentials')} | 8 (one per role) | {verdict(worst('get_role_credentials') == 8)} |",
        f"| P4 | … callers that failed (worst run) | {worst('failed')} | 0 | {verdict(worst('failed') == 0)} |",
        f"| P4 | keyring reads during the P2 load (worst run) | {worst('reads_under_load')} | 0 | {verdict(worst('reads_under_load') == 0)} |",
    ]
    start = median_of(saved, lambda r: r["p5"]["start_s"])
    crit = saved["criterion"]
    ns = lambda c: f"{c['median']:.0f} ns (95% CI {c['low']:.0f}–{c['high']:.0f})"
    million = lambda run: run["million"]
    lines += [
        f"| P5 | start-up to first answer, {sessions} sessions in the keyring | {across(saved, lambda r: r['p5']['start_s'], ' ms', 0, 1000)} | ≤ 200 ms | {verdict(start <= 0.2)} |",
        f"| P5 | in-process (criterion, one run): answering a cached request, 10 → 10,000 roles cached | {ns(crit['cached, 10 roles'])} → {ns(crit['cached, 10000 roles'])} | flat | "
        f"{verdict(crit['cached, 10000 roles']['median'] <= crit['cached, 10 roles']['median'] * 1.2)} |",
        f"| P5 | in-process: decoding a request frame | {ns(crit['decode'])} | | |",
        f"| load | 1,000,000 requests at 64 clients, every answer checked | {across(saved, lambda r: million(r)['load']['per_second'], '/s', 0)}, "
        f"p99 {median_of(saved, lambda r: million(r)['load']['p99_us']):.0f} µs, errors in the worst run {max(values(saved, lambda r: million(r)['load']['errors']))} | 0 errors | "
        f"{verdict(max(values(saved, lambda r: million(r)['load']['errors'])) == 0)} |",
        f"| load | agent RSS before → after (peak) | {median_of(saved, lambda r: million(r)['before']['rss']) / MIB:.1f} → {median_of(saved, lambda r: million(r)['after']['rss']) / MIB:.1f} MiB "
        f"({median_of(saved, lambda r: million(r)['peak_rss_kib']) / MIB:.1f} MiB) | | |",
    ]
    lines += notes(saved)
    lines += method(saved)
    lines += profiles(saved)
    lines += fuzzing()
    lines += compared(saved, previous_path)
    return "\n".join(lines) + "\n"


def syscalls(saved):
    """The middle run's calls per request, largest first."""
    calls = saved["runs"][len(saved["runs"]) // 2]["p2"]["syscalls_per_request"]
    shown = [f"{name} {count:.2f}" for name, count in sorted(calls.items(), key=lambda kv: -kv[1]) if count >= 0.01]
    return f"{sum(calls.values()):.2f}: " + ", ".join(shown)


HELPER_KIND = {"helper": "dynamic", "static": "static"}


def notes(saved):
    """Why a missed target is missed, from the same saved runs."""
    mid = lambda get: median_of(saved, get)
    p1 = lambda run: run["p1"]
    lines = ["", "## Notes on the targets missed", ""]
    helpers = saved["runs"][0]["p1"]["helpers"]
    missed = [name for name in helpers if mid(lambda r: p1(r)[f"{name}_per_connect"]["median"]) > 1.25]
    if missed:
        run = saved["runs"][len(saved["runs"]) // 2]["p1"]
        above = lambda name: (run[f"{name}_minor_faults"] - run["roundtrip_minor_faults"],
                              sum(run["syscalls"][name].values()) - sum(run["syscalls"]["roundtrip"].values()))
        lines += [
            f"- **P1.** The round-trip floor alone is {mid(lambda r: p1(r)['roundtrip_per_connect']['median']):.2f}× the connect floor: asking the agent and",
            "  reading its answer costs any client that. Above the round trip (Profiles below) "
            + "; ".join(f"the {HELPER_KIND.get(name, name)} helper costs {above(name)[0]:.0f} more page faults and {above(name)[1]} more system calls"
                        for name in helpers) + ".",
            "  What every helper adds is the client's checks (the socket's directory is private, the peer is",
            "  the agent's uid, read and write time limits) and a binary that maps more pages (Rust std, serde).",
        ]
        if "helper" in missed and "static" in helpers:
            loader = {name: run["syscalls"]["helper"].get(name, 0) - run["syscalls"]["static"].get(name, 0)
                      for name in ("mmap", "openat", "mprotect", "pread64", "newfstatat")}
            lines += [
                "  The dynamic helper's difference from the static one is the dynamic loader's work: "
                + ", ".join(f"{count} more {name}" for name, count in loader.items() if count > 0)
                + " (loading libc and libgcc_s),",
                "  and relocating itself and them (PIE), which is where its extra page faults go; `scripts/static-helper`",
                "  builds the helper without them. std's own start-up is skipped (`no_main`); this VM exposes no",
                "  hardware counters (perf sees page faults and context switches only).",
            ]
            if "connect_dynamic_ms" in run:
                dynamic = mid(lambda r: p1(r)["connect_dynamic_per_connect"]["median"])
                roundtrip = mid(lambda r: p1(r)["roundtrip_per_connect"]["median"])
                lines += [
                    f"  The connect floor itself, linked dynamically, is {dynamic:.2f}× the static one. The loader and libc",
                    f"  alone, with the round trip's {roundtrip - 1:.2f} added, put a dynamic client at about {dynamic + roundtrip - 1:.2f}× before",
                    "  its own work (the sum of the two measured ratios; the helper also loads libgcc_s). That is why",
                    "  the README installs the static helper on Linux (macOS has no static executables)."
                ]
    c64 = lambda r: r["p2"]["c64"]
    if mid(lambda r: r["p2"]["cpu_per_floor"]["median"]) > 1.5 or mid(lambda r: c64(r)["per_second"]) < 200000:
        floor_rate = mid(lambda r: statistics.median(x["per_second"] for x in r["p2"]["floor_runs"]))
        rate = mid(lambda r: c64(r)["per_second"])
        calls_per_request = mid(lambda r: sum(r["p2"]["syscalls_per_request"].values()))
        lines += [
            f"- **P2.** The floor server answers {floor_rate:,.0f}/s under the same load on these {saved['machine']['cores']} cores, which the",
            f"  load generator shares; that is the ceiling of any server here. The agent makes {calls_per_request:.2f}",
            "  system calls a request (the row above), the read and the write any server needs; the rest of its CPU",
            "  is its own work: decoding the JSON request, the lookup, and tokio's scheduling. With 64",
            f"  requests always outstanding, Little's law puts the mean latency at 64 / throughput",
            f"  ({64 / rate * 1000:.2f} ms at {rate:,.0f}/s), so a p99 under 1 ms needs the throughput first.",
        ]
    crit = saved["criterion"]
    if mid(lambda r: r["flat"]["many_per_few"]["median"]) < 0.9:
        lines += [
            f"- **flat.** In process the lookup is flat ({crit['cached, 10 roles']['median']:.0f} → {crit['cached, 10000 roles']['median']:.0f} ns, the criterion row);",
            f"  over the socket the clients rotate over {saved['runs'][0]['flat']['profiles']:,} distinct answers, each kept encoded",
            f"  ({saved['runs'][0]['p2']['c1']['answer_bytes']:,} bytes), so most requests read memory the CPU caches no longer hold. Without",
            "  hardware counters in this VM the cache misses are inferred, not measured.",
        ]
    p3 = lambda run: run["p3"]
    one, full = (lambda r: p3(r)["one_session"]["cached"]), (lambda r: p3(r)["full"])
    if mid(lambda r: one(r)["rss"]) > 12 * MIB or mid(lambda r: full(r)["rss"]) > 20 * MIB:
        text = resident_text(saved)
        if text:
            top = list(text["by_crate_kib"].items())[:5]
            whose = (f"{text['resident_kib'] / 1024:.1f} of its {text['text_kib'] / 1024:.1f} MiB of code is resident, "
                     "the most of it " + ", ".join(f"{crate} ({kib:,} KiB)" for crate, kib in top) + "; Profiles below")
        else:
            whose = "this run did not profile which crates"
        lines += [
            f"- **P3.** Most of the one-session figure (the row \"1 session × {saved['roles']:,} cached roles\") is file-backed ({mid(lambda r: one(r)['file_backed']) / MIB:.1f} MiB): pages of the",
            f"  agent's binary ({whose}) and of libc, which the",
            "  kernel maps around each page touched (so not all of it ran), shares between processes and drops under memory",
            f"  pressure. The agent's own memory is the anonymous part ({mid(lambda r: one(r)['anonymous']) / MIB:.1f} MiB with {saved['roles']:,} roles,",
            f"  {mid(lambda r: full(r)['anonymous']) / MIB:.1f} MiB with {saved['runs'][0]['p3']['cached_roles']:,}): each cached role keeps its answer encoded, the",
            "  role's key and its renewal state, and the config index keeps every profile" + heap_summary(saved) + ".",
            f"  The binary is {saved['sizes']['sso-agent'] / 1e6:.0f} MB on disk: code, read-only data, unwinding tables and symbols,",
            "  each mapped only where it is read. What was changed for P3 and what was tried and not kept: docs/design.md, issue 15.",
        ]
    if len(lines) == 3:
        lines.append("Every target is met.")
    return lines


def heap_summary(saved):
    """What the largest heap profile's top allocating functions hold, for the P3 note."""
    live = (saved.get("heap") or {}).get("full")
    if not live or next(iter(live["by_function_kib"]), None) == "(no Rust frame)":
        return ""
    top = list(live["by_function_kib"].items())[:4]
    if not top or not live["live_kib"]:
        return ""
    share = sum(kib for _, kib in top) / live["live_kib"]
    return (f"; an agent of its own with every role of {saved['sessions']} sessions cached, under heaptrack, holds "
            f"{live['live_kib'] / 1024:.1f} MiB of live heap, {share:.0%} of it allocated in " +
            ", ".join(f"`{fn}` ({kib / 1024:.1f} MiB)" for fn, kib in top))


def method(saved):
    rounds = sorted({user.get("rounds", 15) for run in saved["runs"] for user in run["users"].values()})
    return [
        "",
        "## How each figure is taken",
        "",
        "- P1: `interleave` runs the static C connect floor, the static C round trip, the connect floor",
        "  linked dynamically, the helpers and the subcommand in turn, 500 rounds after 20 of warm-up,",
        "  each with posix_spawn and wait4 (which also",
        "  gives peak RSS and page faults). The round-trip floor sends the same request frame as the",
        "  helper (its bytes are built from the agent's protocol version) and checks the answer.",
        "- users: each client resolving credentials through our helper and by its own native SSO path",
        f"  with a warm token cache (the agent's `sso_agent_cli_cache` export), {' or '.join(map(str, rounds))} rounds interleaved.",
        "- P2: `examples/loadgen.rs`, one persistent connection per client, closed loop, a bounded number",
        f"  of requests each; one client thread, sharing the {saved['machine']['cores']} cores with the server. At 64 clients the",
        "  agent and the floor server (`benches/c/floor_server.c`) take the same load in turn, 3 times a",
        "  run; the CPU time is the server's user + system time over the load, from /proc/PID/stat.",
        "- flat: the same 64-client load over 10 profiles and over every profile, alternately, 3 times.",
        "- P3: /proc/PID/smaps_rollup: `Rss`, `Anonymous`; file-backed is the rest (pages of the",
        "  binary and libraries, shared and reclaimable). The one-session figures come from an agent",
        "  of their own on a 1-session config.",
        "- P4: the emulator's call log, and `store_reads` from `status`. P5: spawn to the first `status`",
        "  answer, median of 5 starts; criterion's `benches/request.rs` runs `Agent::handle` in process.",
    ] + heap_method(saved)


def heap_method(saved):
    profile = next(iter((saved.get("heap") or {}).values()), None)
    if not profile:
        return []
    carriers = ", ".join(profile.get("carriers", ["std (core, alloc)", "hashbrown", "C code (no Rust path)"]))
    return [
        "- P3's heap profiles (Profiles) run once, after the runs, each on an agent of its own: the agent",
        "  under heaptrack is killed once every role is cached, and each byte still allocated then goes",
        f"  to the crate of the innermost frame of its stack that is not one of these carriers: {carriers}.",
    ]


def profiles(saved):
    """What the P1 figures are made of, from the middle run: page faults and system calls."""
    run = saved["runs"][len(saved["runs"]) // 2]["p1"]
    names = ["connect", "roundtrip"] + (["connect_dynamic"] if "connect_dynamic" in run["syscalls"] else []) + run["helpers"]
    lines = ["", "## Profiles (the middle run)", "",
             "- P1 minor page faults per process (wait4): " +
             ", ".join(f"{name} {run[f'{name}_minor_faults']:.0f}" for name in names + ["subcommand"]) + "."]
    for name in names:
        calls = sorted(run["syscalls"][name].items(), key=lambda kv: -kv[1])
        lines.append(f"- P1 system calls of one `{name}` run (strace -c): {sum(c for _, c in calls)}: " +
                     ", ".join(f"{n} {c}" for n, c in calls) + ".")
    text = resident_text(saved)
    if text:
        lines.append(f"- P3 the agent binary's resident code (one session, every role cached; /proc/PID/pagemap, "
                     f"functions from its symbol table): {text['resident_kib'] / 1024:.1f} of its "
                     f"{text['text_kib'] / 1024:.1f} MiB of code, by crate (KiB): " +
                     ", ".join(f"{crate} {kib:,}" for crate, kib in list(text["by_crate_kib"].items())[:16]) + ", ….")
    order = saved.get("link_order")
    if order:
        how = ("laid out first, in the file's order" if order.get("laid_out_first")
               else "not laid out first (build.rs passes the file only to a linker that takes it)")
        lines.append(f"- P3 the link order (`link/daemon.order`, written by `scripts/order-file`, passed by build.rs): "
                     f"{order['in_binary']:,} of its {order['names']:,} functions are in the measured binary, {how}; "
                     "a function it lacks changed since the file was written and is laid out unordered.")
    for name, label in (("one_session", f"1 session × {saved['roles']:,}"),
                        ("full", f"{saved['sessions']} sessions × {saved['roles']:,}")):
        live = (saved.get("heap") or {}).get(name)
        if live and next(iter(live["by_function_kib"]), None) == "(no Rust frame)":
            lines.append(f"- P3 the agent's live heap, {label} cached roles: heaptrack recorded {live['live_kib'] / 1024:.1f} MiB, "
                         "but its largest part has no Rust frame to attribute it to (heaptrack named no frame with a crate "
                         "path; docs/design.md, issue 15): no profile by crate.")
        elif live:
            lines.append(f"- P3 the agent's live heap, {label} cached roles (heaptrack, `scripts/benchlib/heap.py`): "
                         f"{live['live_kib'] / 1024:.1f} MiB; by allocating crate (KiB): " +
                         ", ".join(f"{crate} {kib:,}" for crate, kib in list(live["by_crate_kib"].items())[:10]) +
                         "; by allocating function (KiB): " +
                         ", ".join(f"`{fn}` {kib:,}" for fn, kib in list(live["by_function_kib"].items())[:6]) + ".")
    return lines


def resident_text(saved):
    """The middle run's resident-code profile (runs before it was taken have none)."""
    return saved["runs"][len(saved["runs"]) // 2]["p3"]["one_session"].get("text")


def fuzzing():
    path = ROOT / "docs" / "fuzzing.md"
    if not path.exists():
        return []
    table = path.read_text().strip()
    lines = ["", "## Fuzzing (`scripts/fuzz`, written by its own run to docs/fuzzing.md)", "", table]
    for row in table.splitlines():
        cells = [cell.strip(" `") for cell in row.strip("|").split("|")]
        if cells[0] == "config" and cells[1].isdigit():
            rate = int(cells[1]) / int(cells[2].removesuffix(" s"))
            lines += ["", f"The config target ran {rate:,.0f} inputs/s there, so 10 M executions take about "
                          f"`scripts/fuzz {int(10e6 / rate) + 60} config` (a minute more for start-up)."]
    return lines


def headline(saved):
    """The figures every schema of saved run has, by name (schema 1: one run, hyperfine)."""
    if saved.get("schema") != 2:
        return {"helper, warm (ms)": saved["p1"][1][0] * 1e3,
                "1 client (requests/s)": saved["p2"][0][1]["per_second"],
                "1 client, p50 (µs)": saved["p2"][0][1]["p50_us"],
                "64 clients (requests/s)": saved["p2"][-1][1]["per_second"],
                "RSS, 10 × 1,000 cached roles (MiB)": saved["full_rss"] / MIB,
                "RSS, idle, one profile (MiB)": saved["small_rss"] / MIB,
                "`exec -- /bin/true` (ms)": saved["tools"][2][0] * 1e3}
    return {"helper, warm (ms)": median_of(saved, lambda r: r["p1"]["helper_ms"]),
            "1 client (requests/s)": median_of(saved, lambda r: r["p2"]["c1"]["per_second"]),
            "1 client, p50 (µs)": median_of(saved, lambda r: r["p2"]["c1"]["p50_us"]),
            "64 clients (requests/s)": median_of(saved, lambda r: r["p2"]["c64"]["per_second"]),
            "RSS, 10 × 1,000 cached roles (MiB)": median_of(saved, lambda r: r["p3"]["full"]["rss"]) / MIB,
            "RSS, idle, one profile (MiB)": median_of(saved, lambda r: r["p3"]["small"]["rss"]) / MIB,
            "`exec -- /bin/true` (ms)": median_of(saved, lambda r: r["tools"]["exec_ms"]),
            "agent CPU per cached request, 64 clients (µs)": median_of(
                saved, lambda r: statistics.median(x["cpu_us_per_request"] for x in r["p2"]["c64_runs"])),
            "floor server CPU per request, same load (µs)": median_of(
                saved, lambda r: statistics.median(x["cpu_us_per_request"] for x in r["p2"]["floor_runs"])),
            "agent ÷ floor CPU": median_of(saved, lambda r: r["p2"]["cpu_per_floor"]["median"])}


def compared(saved, previous_path):
    lines = ["", "## Compared with the previous run", ""]
    if previous_path is None:
        return lines + ["No earlier run is saved in `docs/bench-runs/`."]
    before = json.loads(Path(previous_path).read_text())
    was, now = headline(before), headline(saved)
    lines.append(f"From `docs/bench-runs/{Path(previous_path).name}` (commit {before.get('commit', '?')}, "
                 f"{len(before.get('runs', [before]))} run(s)), read from that file.")
    if before.get("schema") != 2:
        lines.append("That run measured each figure once, the helper with hyperfine (a mean, in a block of its "
                     "own), so part of each change below is the change of method.")
    lines.append("")
    digits = lambda name: 0 if "requests/s" in name else 2
    lines += [f"- {name}: {was[name]:,.{digits(name)}f} → {now[name]:,.{digits(name)}f}" for name in now if name in was]
    return lines
