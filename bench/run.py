"""Run the standard benchmark set against the bare relay and asyncchat.

    python bench/run.py            # the standard set, 3 runs each, medians
    python bench/run.py --quick    # smaller numbers, 1 run: a smoke test

Every figure is also given as a ratio to the relay, measured in the same
invocation (and, for the cluster- scenarios, to the single asyncchat node).
The server runs pinned to core 0 and the generator to core 1 (on machines
with two or more cores); a cluster's nodes and its redis-server all run on
core 0 (see bench/README.md). Results go to bench/results/*.jsonl.

    python bench/run.py --servers relay,asyncchat,asyncchat-redis,asyncchat-cluster \
        --scenarios cluster-fanout-burst,cluster-fanout-paced
    python bench/run.py --servers asyncchat-cluster --scenarios cluster-fanout-burst \
        --runs 1 --profile asyncchat-cluster   # the nodes under cProfile
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).parent))
import loadgen

HERE = Path(__file__).parent


SERVER_CORE = 0
"""Where every server-side process runs: the server, or a cluster's nodes and its
redis-server all together (the same CPU budget as one server: see bench/README.md)."""
LOADGEN_CORE = 1
LISTENING = r"listening on [\d.]+:(\d+)"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
CLUSTER_KINDS = ("asyncchat-redis", "asyncchat-cluster")
"""Kinds that start a redis-server and asyncchat node(s) on it with --redis:
`asyncchat-redis` one node with every client; `asyncchat-cluster` two nodes,
the receivers alternating between node A and node B, the senders on node A."""
CLUSTER_SCENARIO_KINDS = ("relay", "asyncchat", *CLUSTER_KINDS)
"""Kinds that run the cluster- scenarios (relay and asyncchat: as plain fan-out)."""
CLUSTER_AT_ONCE = 50
"""Clients that connect and register at a time in cluster- scenarios (200 elsewhere).
A node claims each name with its own Redis command, and redis-py's pool holds 100
connections: past ~100 registrations in flight on one node its link reports
"Too many connections", goes down, and the clients are refused (bench/README.md)."""


@contextlib.contextmanager
def server(
    kind: str, workdir: Path, baseline: Path | None = None, profile: Path | None = None
) -> Iterator[tuple[int, int]]:
    """Start a server (pinned to core 0); yield (port, pid); stop it.

    `baseline` is another asyncchat source tree (e.g. the last release, from
    `git worktree add`), run as kind `baseline` so before and after are
    measured in one invocation. With `profile`, Python servers run under
    cProfile, writing `<profile>-<role>.prof` when they stop.
    """
    if kind in CLUSTER_KINDS:
        with cluster(kind, workdir, profile) as found:
            yield found
        return
    env = None
    if kind == "baseline":
        assert baseline is not None, "--baseline DIR is needed for the baseline server"
        env = {**os.environ, "PYTHONPATH": str(baseline / "src")}
    listening = LISTENING
    if kind == "relay":
        command = [*python(profile, "server"), str(HERE / "relay.py"), "0"]
    elif kind == "ngircd":
        assert profile is None, "ngIRCd cannot be profiled with cProfile"
        conf = workdir / "ngircd.conf"
        conf.write_text(NGIRCD_CONF.format(port=free_port()))
        command = [NGIRCD, "--nodaemon", "--config", str(conf)]
        listening = r"Now listening on \[[\d.]+\]:(\d+)"
    else:
        command = asyncchat_command(kind, workdir, profile=profile)
        if kind.endswith("-irc"):
            listening = r"listening on [\d.]+:(\d+) \(IRC\)"
    with process(kind, command, workdir, listening, env) as (pid, found, text):
        irc = re.search(r"listening on [\d.]+:(\d+) \(IRC\)", text)
        IRC_PORTS[pid] = int(irc[1]) if irc and kind == "asyncchat-irc-mixed" else 0
        web = re.search(r"listening on [\d.]+:(\d+) \(web\)", text)
        WEB_PORTS[pid] = int(web[1]) if web else 0
        PROCESSES[pid] = {"server": pid}
        PROFILED[pid] = [pid] if profile is not None else []
        yield int(found), pid


def python(profile: Path | None, role: str) -> list[str]:
    """The start of a command that runs Python; with `profile`, under cProfile
    (bench/profiled.py: only while a fan-out is measured) into `<profile>-<role>.prof`."""
    if profile is None:
        return [sys.executable]
    return [sys.executable, str(HERE / "profiled.py"), f"{profile}-{role}.prof"]


def asyncchat_command(
    kind: str, workdir: Path, redis: str = "", profile: Path | None = None, role: str = "server"
) -> list[str]:
    file_db = kind == "asyncchat-file"
    db = str(workdir / f"bench-{time.time_ns()}.db") if file_db else ":memory:"
    return [
        *python(profile, role),
        "-m",
        "asyncchat",
        "serve",
        "--port",
        "0",
        "--rate",
        "0",
        "--max-clients",
        "20000",
        "--db",
        db,
        *(["--irc-port", "0", "--server-name", "bench.test"] if "-irc" in kind else []),
        *(["--web-port", "0"] if kind == "asyncchat-web" else []),
        *(["--redis", redis] if redis else []),
    ]


@contextlib.contextmanager
def process(
    name: str, command: list[str], workdir: Path, listening: str, env: dict[str, str] | None = None
) -> Iterator[tuple[int, str, str]]:
    """Start one process pinned to SERVER_CORE, wait (15 s at most) until its log
    matches `listening`; yield (pid, the match's group 1, the log); stop it (SIGTERM,
    then SIGKILL after 15 s)."""
    log = workdir / f"{name}.log"
    with open(log, "w") as err:
        child = subprocess.Popen(command, stdout=err, stderr=err, stdin=subprocess.DEVNULL, env=env)
    try:
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(child.pid, {SERVER_CORE})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = re.search(listening, log.read_text())
            if found:
                break
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{name} did not start: {log.read_text()}")
        yield child.pid, found[1] if found.groups() else "", log.read_text()
    finally:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            print(f"  {name} did not stop within 15 s of SIGTERM: killed", flush=True)


@contextlib.contextmanager
def cluster(kind: str, workdir: Path, profile: Path | None) -> Iterator[tuple[int, int]]:
    """A redis-server of its own (fresh, no persistence) and one node
    (`asyncchat-redis`) or two (`asyncchat-cluster`) on it; yield node A's
    (port, pid). Stopped in reverse: the nodes first, then Redis."""
    with contextlib.ExitStack() as stack:
        redis_port = free_port()
        redis_dir = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))
        redis = [
            REDIS_SERVER,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(redis_dir),
        ]
        ready = r"Ready to accept connections"
        redis_pid, _, _ = stack.enter_context(process(f"{kind}-redis", redis, workdir, ready))
        url = f"redis://127.0.0.1:{redis_port}/0"
        ports: list[int] = []
        pids: dict[str, int] = {}
        for role in ("node_a", "node_b") if kind == "asyncchat-cluster" else ("node_a",):
            command = asyncchat_command(kind, workdir, url, profile, role)
            pid, port, _ = stack.enter_context(
                process(f"{kind}-{role}", command, workdir, LISTENING)
            )
            ports.append(int(port))
            pids[role] = pid
        pids["redis"] = redis_pid
        main = pids["node_a"]
        RECEIVER_PORTS[main] = ports
        PROCESSES[main] = pids
        REDIS_PORTS[main] = redis_port
        PROFILED[main] = [pids[role] for role in pids if role != "redis"] if profile else []
        yield ports[0], main


WEB_PORTS: dict[int, int] = {}
"""For `asyncchat-web`: the web port, where `web-` scenarios put their receivers."""
IRC_PORTS: dict[int, int] = {}
"""For `asyncchat-irc-mixed`: the IRC port where one IRC user sits in the lobby
while line clients run the scenario (the Dispatcher then has two codecs)."""
RECEIVER_PORTS: dict[int, list[int]] = {}
"""For cluster kinds: each node's line port (node A's first), where cluster-
scenarios put their receivers in turn."""
PROCESSES: dict[int, dict[str, int]] = {}
"""Every server-side process of a server by role ("server"; or "node_a", "node_b",
"redis"), whose CPU time the fan-out scenarios measure."""
REDIS_PORTS: dict[int, int] = {}
PROFILED: dict[int, list[int]] = {}
"""The processes under bench/profiled.py, told by signals when to profile."""
NGIRCD = "/usr/sbin/ngircd"
NGIRCD_CONF = """[Global]
Name = bench.test
Info = bench
Listen = 127.0.0.1
Ports = {port}
[Limits]
MaxConnections = 20000
MaxConnectionsIP = 0
MaxJoins = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SCENARIOS: dict[str, dict[str, float]] = {
    "fanout-burst": dict(receivers=200, senders=10, lines=200),
    "fanout-paced": dict(receivers=1000, senders=10, lines=40, rate=4.0),
    "conns": dict(count=5000, rate=1000.0),
    "irc-fanout-burst": dict(receivers=100, senders=10, lines=100),
    "irc-fanout-many": dict(receivers=200, senders=100, lines=1),
    "web-fanout-burst": dict(receivers=200, senders=10, lines=200),
    "web-fanout-paced": dict(receivers=1000, senders=10, lines=40, rate=4.0),
    "cluster-fanout-burst": dict(receivers=200, senders=10, lines=200),
    "cluster-fanout-paced": dict(receivers=1000, senders=10, lines=40, rate=4.0),
}
QUICK: dict[str, dict[str, float]] = {
    "fanout-burst": dict(receivers=50, senders=5, lines=50),
    "fanout-paced": dict(receivers=100, senders=5, lines=8, rate=4.0),
    "conns": dict(count=300, rate=1000.0),
    "irc-fanout-burst": dict(receivers=50, senders=5, lines=50),
    "irc-fanout-many": dict(receivers=50, senders=25, lines=4),
    "web-fanout-burst": dict(receivers=50, senders=5, lines=50),
    "web-fanout-paced": dict(receivers=100, senders=5, lines=8, rate=4.0),
    "cluster-fanout-burst": dict(receivers=50, senders=5, lines=50),
    "cluster-fanout-paced": dict(receivers=100, senders=5, lines=8, rate=4.0),
}
HEADLINE = {
    "fanout-burst": "deliveries_per_s",
    "fanout-paced": "p99_ms",
    "conns": "connects_per_s",
    "irc-fanout-burst": "deliveries_per_s",
    "irc-fanout-many": "deliveries_per_s",
    "web-fanout-burst": "deliveries_per_s",
    "web-fanout-paced": "p99_ms",
    "cluster-fanout-burst": "deliveries_per_s",
    "cluster-fanout-paced": "p99_ms",
}


def runs_on(scenario: str, kind: str) -> bool:
    """Whether `kind` takes part in `scenario`."""
    if scenario.startswith("web-"):
        return kind == "asyncchat-web"  # only that kind listens for WebSockets
    if scenario.startswith("cluster-"):
        return kind in CLUSTER_SCENARIO_KINDS
    return kind not in CLUSTER_KINDS  # a cluster's numbers are the cluster- scenarios'


def cpu_ns(pid: int) -> int:
    """Time on a CPU of every thread of `pid` so far (ns, from /proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


async def one_run(scenario: str, params: dict[str, float], port: int, pid: int) -> dict[str, float]:
    if scenario == "conns":
        return await loadgen.conns(port, pid, int(params["count"]), params["rate"])
    mixed = bool(IRC_PORTS.get(pid))  # line clients run it, one IRC user watches
    watcher = (
        await loadgen.open_client(IRC_PORTS[pid], "ircwatcher", 0, None, loadgen.IRC)
        if mixed
        else None
    )
    receivers_at: tuple[int, loadgen.Dialect] | list[tuple[int, loadgen.Dialect]] | None = None
    if scenario.startswith("web-"):
        receivers_at = (WEB_PORTS[pid], loadgen.WEB)
    elif scenario.startswith("cluster-") and len(RECEIVER_PORTS.get(pid, ())) > 1:
        receivers_at = [(node, loadgen.LINE) for node in RECEIVER_PORTS[pid]]
    roles = PROCESSES.get(pid, {"server": pid})
    before: dict[str, int] = {}
    spent: dict[str, float] = {}

    def mark(phase: str) -> None:
        """The server-side CPU time of the measured part, process by process."""
        if phase == "end":
            for process in PROFILED.get(pid, ()):
                os.kill(process, signal.SIGUSR2)
        now = {role: cpu_ns(process) for role, process in roles.items()}
        if phase == "start":
            before.update(now)
            for process in PROFILED.get(pid, ()):
                os.kill(process, signal.SIGUSR1)
            if PROFILED.get(pid):
                time.sleep(0.05)  # the profilers are on before the first line is sent
        else:
            spent.update({f"cpu_ms_{role}": (now[role] - before[role]) / 1e6 for role in roles})

    try:
        result = await loadgen.fanout(
            port,
            int(params["receivers"]),
            int(params["senders"]),
            int(params["lines"]),
            params.get("rate", 0.0),
            dialect=loadgen.IRC if scenario.startswith("irc-") and not mixed else loadgen.LINE,
            receivers_at=receivers_at,
            mark=mark,
            at_once=CLUSTER_AT_ONCE if scenario.startswith("cluster-") else 200,
        )
    finally:
        if watcher is not None:
            watcher.close()
    if spent:
        total = sum(spent.values())
        if len(spent) > 1:
            spent["cpu_ms_total"] = total
        delivered = result["expected"] - result["loss"]
        spent["cpu_ns_per_delivery"] = total * 1e6 / max(1.0, delivered)
    return {**result, **spent}


async def bounded(coroutine: Any, limit: float) -> dict[str, float]:
    """The run, or TimeoutError after `limit` seconds (a run never hangs the bench)."""
    async with asyncio.timeout(limit):
        return dict(await coroutine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, one run")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (default 3)")
    parser.add_argument("--servers", default="relay,asyncchat,asyncchat-file")
    parser.add_argument("--scenarios", default=",".join(s for s in SCENARIOS if "cluster" not in s))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another asyncchat checkout, measured as server 'baseline' (add it to --servers)",
    )
    parser.add_argument(
        "--profile",
        metavar="KIND",
        help="run this kind's server (a cluster's nodes) under cProfile and print where "
        "the time went (its figures are then marked and not comparable)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=300,
        help="seconds one run may take before it is given up as failed (default 300)",
    )
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    table = QUICK if args.quick else SCENARIOS
    kinds = args.servers.split(",")
    if args.profile and args.profile not in kinds:
        parser.error(f"--profile {args.profile}: add it to --servers")
    loadgen.pin_self(LOADGEN_CORE)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results_dir / f"{stamp}.jsonl"
    profiles = results_dir / f"{stamp}-profile"
    redis_stats: dict[str, dict[str, float]] = {}
    profiled_cpu: dict[str, float] = {}
    medians: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, open(out, "w") as jsonl:
        for scenario in args.scenarios.split(","):
            # Runs interleave the servers (relay, baseline, asyncchat, relay, ...),
            # so a drift of the machine's speed touches every server alike.
            rows: dict[str, list[dict[str, float]]] = {}
            for run in range(runs):
                for kind in kinds:
                    if not runs_on(scenario, kind):
                        continue
                    profiled = kind == args.profile
                    label = f"{kind}+cProfile" if profiled else kind
                    profile = None
                    if profiled:
                        profiles.mkdir(exist_ok=True)
                        profile = profiles / f"{scenario}-{kind}-run{run}"
                    result, failure = measure(
                        kind, scenario, table[scenario], Path(tmp), args, profile, redis_stats
                    )
                    for key, value in result.items() if profiled else ():
                        if key.startswith("cpu_ms_"):
                            role = key.removeprefix("cpu_ms_")
                            profiled_cpu[role] = profiled_cpu.get(role, 0.0) + value
                    row: dict[str, Any] = {
                        "scenario": scenario,
                        "server": label,
                        "run": run,
                        **table[scenario],
                        **result,
                        "machine": platform.machine(),
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "date": stamp,
                    }
                    if not result:
                        row["error"] = failure
                        print(f"  {scenario:20} {label:17} run {run}: {row['error']}", flush=True)
                    jsonl.write(json.dumps(row) + "\n")
                    jsonl.flush()
                    if not result:
                        continue
                    rows.setdefault(label, []).append(result)
                    print(
                        f"  {scenario:20} {label:17} run {run}: "
                        + ", ".join(f"{k}={v:.4g}" for k, v in result.items()),
                        flush=True,
                    )
            for kind, results in rows.items():
                medians[(scenario, kind)] = {
                    key: loadgen.median([r[key] for r in results if key in r]) for key in results[0]
                }
    print_table(medians)
    print(f"\nresults: {out}")
    if args.profile and profiles.exists():
        report = profile_report(profiles, redis_stats, profiled_cpu)
        summary = results_dir / f"{stamp}-profile.txt"
        summary.write_text(report)
        print(report)
        print(f"profile: {summary} (raw cProfile files in {profiles})")
    return 0


def measure(
    kind: str,
    scenario: str,
    params: dict[str, float],
    workdir: Path,
    args: argparse.Namespace,
    profile: Path | None,
    redis_stats: dict[str, dict[str, float]],
) -> tuple[dict[str, float], str]:
    """One run on a fresh server: (its figures, "") or ({}, why it failed)."""
    with server(kind, workdir, args.baseline, profile) as (port, pid):
        if profile is not None and pid in REDIS_PORTS:
            reset_redis_stats(REDIS_PORTS[pid])
        try:
            limit = args.run_timeout
            return uvloop.run(bounded(one_run(scenario, params, port, pid), limit)), ""
        except TimeoutError:
            return {}, f"no result within --run-timeout {args.run_timeout:g} s"
        except OSError as problem:  # a client refused or cut before the run
            return {}, f"failed: {problem}"
        finally:
            if profile is not None and pid in REDIS_PORTS:
                add_redis_stats(redis_stats, REDIS_PORTS[pid])


def reset_redis_stats(port: int) -> None:
    """Redis's per-command counters from zero (they then count the run, joins included)."""
    import redis

    with redis.Redis(port=port) as client:
        client.config_resetstat()


def add_redis_stats(into: dict[str, dict[str, float]], port: int) -> None:
    import redis

    with redis.Redis(port=port) as client:
        found: dict[str, dict[str, float]] = client.info("commandstats")
    for command, values in found.items():
        total = into.setdefault(command.removeprefix("cmdstat_"), {"calls": 0, "usec": 0})
        total["calls"] += values["calls"]
        total["usec"] += values["usec"]


def profile_report(
    where: Path,
    redis_stats: dict[str, dict[str, float]],
    cpu_ms: dict[str, float],
    top: int = 20,
) -> str:
    """Each role's profiles (summed over the runs): the top functions by own time and
    by cumulative time; and Redis's busiest commands."""
    out = io.StringIO()
    if cpu_ms:
        print(
            "\nCPU time on core 0 while measured (schedstat, all runs, under cProfile):", file=out
        )
        print("  " + ", ".join(f"{role} {ms:.0f} ms" for role, ms in cpu_ms.items()), file=out)
    by_role: dict[str, list[str]] = {}
    for file in sorted(where.glob("*.prof")):
        by_role.setdefault(file.stem.rpartition("-")[2], []).append(str(file))
    for role, files in sorted(by_role.items()):
        stats = pstats.Stats(*files, stream=out).strip_dirs()
        total = getattr(stats, "total_tt", 0.0)
        for order, what in (("tottime", "own time"), ("cumulative", "cumulative time")):
            print(
                f"\n=== {role}: top {top} by {what} ({len(files)} run(s), "
                f"{total:.3f} s profiled in all, wall clock) ===",
                file=out,
            )
            mark = out.tell()
            stats.sort_stats(order).print_stats(top)
            # Keep the table, not pstats' preamble (file names, totals).
            text = out.getvalue()[mark:]
            out.seek(mark)
            out.truncate()
            lines = text.splitlines()
            start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
            print("\n".join(line for line in lines[start:] if line.strip()), file=out)
    if redis_stats:
        usec = sum(v["usec"] for v in redis_stats.values())
        print(
            f"\n=== redis-server: commands by time, the whole run ({usec / 1e3:.1f} ms) ===",
            file=out,
        )
        print(f"{'command':>18} {'calls':>9} {'ms':>9} {'us/call':>8} {'share':>6}", file=out)
        for command, values in sorted(redis_stats.items(), key=lambda kv: -kv[1]["usec"])[:top]:
            print(
                f"{command:>18} {values['calls']:>9.0f} {values['usec'] / 1e3:>9.1f} "
                f"{values['usec'] / max(1, values['calls']):>8.2f} "
                f"{values['usec'] / max(1, usec):>6.1%}",
                file=out,
            )
    return out.getvalue()


def print_table(medians: dict[tuple[str, str], dict[str, float]]) -> None:
    print(
        f"\n{'scenario':20} {'server':17} {'headline':>22} {'x relay':>8} {'x single':>8}"
        "  details (medians)"
    )
    for (scenario, kind), values in medians.items():
        key = HEADLINE[scenario]
        base = medians.get((scenario, "relay"), {}).get(key, float("nan"))
        ratio = values[key] / base if base else float("nan")
        details = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k != key)
        line = medians.get((scenario.removeprefix("web-"), kind), {}).get(key)
        if scenario.startswith("web-") and line:
            details = f"x line protocol={values[key] / line:.2f}, " + details
        single = ""
        if scenario.startswith("cluster-"):
            # The cost of the Redis hop: against one asyncchat node without Redis.
            alone = medians.get((scenario, "asyncchat"), {})
            if alone.get(key):
                single = f"{values[key] / alone[key]:8.2f}"
            cpu = alone.get("cpu_ns_per_delivery")
            if cpu and "cpu_ns_per_delivery" in values:
                details = (
                    f"cpu/delivery x single={values['cpu_ns_per_delivery'] / cpu:.2f}, " + details
                )
        headline = f"{key}={values[key]:>10.4g}"
        print(f"{scenario:20} {kind:17} {headline} {ratio:8.2f} {single:>8}  {details}")


if __name__ == "__main__":
    raise SystemExit(main())
