"""Run the standard benchmark set against the bare relay and asyncchat.

    python bench/run.py            # the standard set, 3 runs each, medians
    python bench/run.py --quick    # smaller numbers, 1 run: a smoke test

Every figure is also given as a ratio to the relay, measured in the same
invocation. The server runs pinned to core 0 and the generator to core 1
(on machines with two or more cores). Results go to bench/results/*.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).parent))
import loadgen

HERE = Path(__file__).parent


@contextlib.contextmanager
def server(kind: str, workdir: Path, baseline: Path | None = None) -> Iterator[tuple[int, int]]:
    """Start a server (pinned to core 0); yield (port, pid); stop it.

    `baseline` is another asyncchat source tree (e.g. the last release, from
    `git worktree add`), run as kind `baseline` so before and after are
    measured in one invocation.
    """
    log = workdir / f"{kind}.log"
    env = None
    if kind == "baseline":
        assert baseline is not None, "--baseline DIR is needed for the baseline server"
        env = {**os.environ, "PYTHONPATH": str(baseline / "src")}
    listening = r"listening on [\d.]+:(\d+)"
    if kind == "relay":
        command = [sys.executable, str(HERE / "relay.py"), "0"]
    elif kind == "ngircd":
        conf = workdir / "ngircd.conf"
        conf.write_text(NGIRCD_CONF.format(port=free_port()))
        command = [NGIRCD, "--nodaemon", "--config", str(conf)]
        listening = r"Now listening on \[[\d.]+\]:(\d+)"
    else:
        file_db = kind == "asyncchat-file"
        db = str(workdir / f"bench-{time.time_ns()}.db") if file_db else ":memory:"
        command = [
            sys.executable,
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
        ]
        if kind.endswith("-irc"):
            listening = r"listening on [\d.]+:(\d+) \(IRC\)"
    with open(log, "w") as err:
        process = subprocess.Popen(
            command, stdout=err, stderr=err, stdin=subprocess.DEVNULL, env=env
        )
    try:
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(process.pid, {0})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = re.search(listening, log.read_text())
            if found:
                break
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited: {log.read_text()}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{kind} did not start: {log.read_text()}")
        irc = re.search(r"listening on [\d.]+:(\d+) \(IRC\)", log.read_text())
        IRC_PORTS[process.pid] = int(irc[1]) if irc and kind == "asyncchat-irc-mixed" else 0
        web = re.search(r"listening on [\d.]+:(\d+) \(web\)", log.read_text())
        WEB_PORTS[process.pid] = int(web[1]) if web else 0
        yield int(found[1]), process.pid
    finally:
        process.terminate()
        process.wait(10)


WEB_PORTS: dict[int, int] = {}
"""For `asyncchat-web`: the web port, where `web-` scenarios put their receivers."""
IRC_PORTS: dict[int, int] = {}
"""For `asyncchat-irc-mixed`: the IRC port where one IRC user sits in the lobby
while line clients run the scenario (the Dispatcher then has two codecs)."""
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


SCENARIOS = {
    "fanout-burst": dict(receivers=200, senders=10, lines=200),
    "fanout-paced": dict(receivers=1000, senders=10, lines=40, rate=4.0),
    "conns": dict(count=5000, rate=1000.0),
    "irc-fanout-burst": dict(receivers=100, senders=10, lines=100),
    "irc-fanout-many": dict(receivers=200, senders=100, lines=1),
    "web-fanout-burst": dict(receivers=200, senders=10, lines=200),
    "web-fanout-paced": dict(receivers=1000, senders=10, lines=40, rate=4.0),
}
QUICK = {
    "fanout-burst": dict(receivers=50, senders=5, lines=50),
    "fanout-paced": dict(receivers=100, senders=5, lines=8, rate=4.0),
    "conns": dict(count=300, rate=1000.0),
    "irc-fanout-burst": dict(receivers=50, senders=5, lines=50),
    "irc-fanout-many": dict(receivers=50, senders=25, lines=4),
    "web-fanout-burst": dict(receivers=50, senders=5, lines=50),
    "web-fanout-paced": dict(receivers=100, senders=5, lines=8, rate=4.0),
}
HEADLINE = {
    "fanout-burst": "deliveries_per_s",
    "fanout-paced": "p99_ms",
    "conns": "connects_per_s",
    "irc-fanout-burst": "deliveries_per_s",
    "irc-fanout-many": "deliveries_per_s",
    "web-fanout-burst": "deliveries_per_s",
    "web-fanout-paced": "p99_ms",
}


async def one_run(scenario: str, params: dict[str, float], port: int, pid: int) -> dict[str, float]:
    if scenario == "conns":
        return await loadgen.conns(port, pid, int(params["count"]), params["rate"])
    mixed = bool(IRC_PORTS.get(pid))  # line clients run it, one IRC user watches
    watcher = (
        await loadgen.open_client(IRC_PORTS[pid], "ircwatcher", 0, None, loadgen.IRC)
        if mixed
        else None
    )
    try:
        return await loadgen.fanout(
            port,
            int(params["receivers"]),
            int(params["senders"]),
            int(params["lines"]),
            params.get("rate", 0.0),
            dialect=loadgen.IRC if scenario.startswith("irc-") and not mixed else loadgen.LINE,
            receivers_at=(WEB_PORTS[pid], loadgen.WEB) if scenario.startswith("web-") else None,
        )
    finally:
        if watcher is not None:
            watcher.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, one run")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (default 3)")
    parser.add_argument("--servers", default="relay,asyncchat,asyncchat-file")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another asyncchat checkout, measured as server 'baseline' (add it to --servers)",
    )
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    table = QUICK if args.quick else SCENARIOS
    loadgen.pin_self(1)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results_dir / f"{stamp}.jsonl"
    medians: dict[tuple[str, str], dict[str, float]] = {}
    kinds = args.servers.split(",")
    with tempfile.TemporaryDirectory() as tmp, open(out, "w") as jsonl:
        for scenario in args.scenarios.split(","):
            # Runs interleave the servers (relay, baseline, asyncchat, relay, ...),
            # so a drift of the machine's speed touches every server alike.
            rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
            for run in range(runs):
                for kind in kinds:
                    if scenario.startswith("web-") and kind != "asyncchat-web":
                        continue  # only that kind listens for WebSockets
                    with server(kind, Path(tmp), args.baseline) as (port, pid):
                        result = uvloop.run(one_run(scenario, table[scenario], port, pid))
                    row = {
                        "scenario": scenario,
                        "server": kind,
                        "run": run,
                        **table[scenario],
                        **result,
                        "machine": platform.machine(),
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "date": stamp,
                    }
                    jsonl.write(json.dumps(row) + "\n")
                    jsonl.flush()
                    rows[kind].append(result)
                    print(
                        f"  {scenario:13} {kind:15} run {run}: "
                        + ", ".join(f"{k}={v:.4g}" for k, v in result.items()),
                        flush=True,
                    )
            for kind, results in rows.items():
                if not results:
                    continue
                medians[(scenario, kind)] = {
                    key: loadgen.median([r[key] for r in results]) for key in results[0]
                }
    print_table(medians)
    print(f"\nresults: {out}")
    return 0


def print_table(medians: dict[tuple[str, str], dict[str, float]]) -> None:
    print(f"\n{'scenario':16} {'server':15} {'headline':>22} {'x relay':>8}  details (medians)")
    for (scenario, kind), values in medians.items():
        key = HEADLINE[scenario]
        base = medians.get((scenario, "relay"), {}).get(key, float("nan"))
        ratio = values[key] / base if base else float("nan")
        details = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k != key)
        line = medians.get((scenario.removeprefix("web-"), kind), {}).get(key)
        if scenario.startswith("web-") and line:
            details = f"x line protocol={values[key] / line:.2f}, " + details
        print(f"{scenario:16} {kind:15} {key}={values[key]:>10.4g} {ratio:8.2f}  {details}")


if __name__ == "__main__":
    raise SystemExit(main())
