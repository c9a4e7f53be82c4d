#!/usr/bin/env python3
"""Benchmark: the broker against a bare pass-through reference and the upstream itself.

Everything runs on this machine, on loopback: nginx stands in for Payroc with fixed answers,
`bench-reference` (bench/reference) is the ceiling for an axum + reqwest proxy, and the
broker runs its release build at its production log level. wrk drives each with the same
load, alternating broker / reference / upstream-direct over several rounds; medians are
reported, and ratios against the reference from the same run (machines here are shared and
noisy, so absolute numbers mean little). Then the many-accounts phase: a generated tenants
file of 1 000 accounts against a slow, counting identity stand-in (bench/identity.py). Then
the Payroc API pass-through phase (bench/proxy_phase.py): a service's GET through the broker
against the reference doing the same pass-through. Then the fleet-wide rate limit phase
(bench/redis_phase.py) and the traces phase (bench/tracing_phase.py): sessions with every trace
exported against tracing off. Run through bench/run.sh, which builds and installs.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# bench/proxy_phase.py uses this module's helpers as `bench`: run as a script, this module is
# that one (not a second copy).
sys.modules.setdefault("bench", sys.modules[__name__])

import proxy_phase  # noqa: E402
import redis_phase  # noqa: E402
import tracing_phase  # noqa: E402
from identity import IdentityServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("BENCH_TARGET_DIR", "target/release")
BROKER = BUILD / "hosted-fields-broker"
REFERENCE = BUILD / "bench-reference"
SESSION_PATH = "/v1/processing-terminals/1234001/hosted-fields-sessions"
# The many-accounts phase: account i (from 1) is `acct-%04d`, key `key-%04d`, terminal FIRST + i - 1.
FIRST_TERMINAL = 9000001


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, started, timeout=10.0):
    """Seconds from `started` until the port accepts a connection."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def proc_status(pid, field):
    """A /proc/PID/status field in KiB (VmRSS now, VmHWM peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Nginx:
    """An nginx started from one of bench/'s config templates, in its own directory."""

    def __init__(self, workdir, template, **values):
        workdir.mkdir(exist_ok=True)
        self.dir = workdir
        self.port = free_port()
        conf = (ROOT / "bench" / template).read_text()
        for key, value in {"DIR": workdir, "PORT": self.port, **values}.items():
            conf = conf.replace(f"@{key}@", str(value))
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(conf)
        subprocess.run(["nginx", "-c", str(self.conf), "-p", str(workdir), "-e", str(workdir / "nginx-error.log")], check=True)
        wait_listening(self.port, time.perf_counter())

    def pin(self, cpus):
        """Confines nginx's master and worker processes (one thread each) to `cpus`."""
        master = int((self.dir / "nginx.pid").read_text())
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        for pid in (master, *map(int, workers)):
            os.sched_setaffinity(pid, cpus)

    def signal(self, name, check=True):
        """`nginx -s name` (stop, reopen, ...) to this instance."""
        subprocess.run(["nginx", "-c", str(self.conf), "-p", str(self.dir), "-s", name], check=check)

    def stop(self):
        self.signal("stop", check=False)


class Upstream(Nginx):
    """The stand-in for Payroc: fixed answers (bench/nginx.conf.in), identity calls logged."""

    def __init__(self, workdir):
        super().__init__(workdir, "nginx.conf.in")

    @property
    def identity_log(self):
        return self.dir / "identity.log"

    def identity_calls(self):
        return len(self.identity_log.read_text().splitlines()) if self.identity_log.exists() else 0

    def reset_identity_log(self):
        self.identity_log.write_text("")
        self.signal("reopen")
        time.sleep(0.2)


def start_nginx_proxy(upstream):
    """nginx as a reverse proxy to `upstream` (bench/nginx-proxy.conf.in)."""
    return Nginx(upstream.dir / "nginx-proxy", "nginx-proxy.conf.in", UPSTREAM_PORT=upstream.port, SESSION_PATH=SESSION_PATH)


def start_broker(upstream, port, prefix=(), extra_env=None):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BROKER__SERVER__LISTEN": f"127.0.0.1:{port}",
        "BROKER__PAYROC__IDENTITY_URL": f"http://127.0.0.1:{upstream.port}/authorize",
        "BROKER__PAYROC__API_URL": f"http://127.0.0.1:{upstream.port}/v1",
        "BROKER__PAYROC__API_KEY": "bench-api-key",
        "BROKER__PAYROC__TERMINALS": "1234001",
        "BROKER__LOG__FORMAT": "json",
        # Production-like: the default filter (info for the broker, warn for the rest).
        **(extra_env or {}),
    }
    started = time.perf_counter()
    process = subprocess.Popen([*prefix, str(BROKER), "serve"], env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, started


def start_reference(upstream, port, prefix=()):
    url, api_url = f"http://127.0.0.1:{upstream.port}{SESSION_PATH}", f"http://127.0.0.1:{upstream.port}/v1"
    started = time.perf_counter()
    process = subprocess.Popen([*prefix, str(REFERENCE), f"127.0.0.1:{port}", url, api_url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, started


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


RESULT = re.compile(r"RESULT rps=(\S+) p50_ms=(\S+) p99_ms=(\S+) p999_ms=(\S+) errors=(\d+) non2xx=(\d+) requests=(\d+)")


def wrk(url, connections, seconds, threads=2, script="post.lua", script_args=()):
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(ROOT / "bench" / script), url,
         *(["--", *map(str, script_args)] if script_args else [])],
        check=True, capture_output=True, text=True,
    ).stdout
    match = RESULT.search(out)
    if not match:
        raise RuntimeError(f"wrk printed no RESULT:\n{out}")
    rps, p50, p99, p999, errors, non2xx, requests = match.groups()
    return {"rps": float(rps), "p50": float(p50), "p99": float(p99), "p999": float(p999),
            "errors": int(errors) + int(non2xx), "requests": int(requests)}


def hey(url, total, concurrency):
    """`total` requests, `concurrency` at once: status counts (hey reports failures as errors)."""
    cmd = ["hey", "-m", "POST", "-T", "application/json", "-d", '{"scenario":"payment"}',
           "-c", str(concurrency), "-n", str(total), url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}


def oha(url, rate, seconds, connections=16, cpus=None):
    """Open-loop load at `rate` requests/s with oha's latency correction (a late request
    counts from when it should have been sent): latency percentiles in ms, status counts.
    `cpus` confines oha (and so its worker threads) to those CPUs."""
    prefix = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    out = subprocess.run(
        [*prefix, "oha", "--no-tui", "--output-format", "json", "--latency-correction", "-z", f"{seconds}s",
         "-q", str(int(rate)), "-c", str(connections), "-m", "POST", "-T", "application/json",
         "-d", '{"scenario":"payment"}', url],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out)
    percentiles = {k: v * 1000 for k, v in result["latencyPercentiles"].items() if v is not None}
    return {"percentiles": percentiles, "statuses": {int(k): v for k, v in result["statusCodeDistribution"].items()}}


def rotated(names, round_no):
    """Round n starts with the n-th name, so no target always runs first or last."""
    names = list(names)
    return names[round_no % len(names):] + names[:round_no % len(names)]


def median(values):
    return statistics.median(values) if values else float("nan")


def wrk_rounds(args, targets, **script):
    """`args.rounds` rounds over `targets` (name: URL), the order rotating from round to round;
    each run a warm-up of `args.warmup` s, then `args.seconds` s measured. Every measured run, by
    name. `script` goes to `wrk` (script, script_args)."""
    runs = {name: [] for name in targets}
    for round_no in range(args.rounds):
        for name in rotated(targets, round_no):
            wrk(targets[name], args.connections, args.warmup, **script)
            runs[name].append(wrk(targets[name], args.connections, args.seconds, **script))
    return runs


def summarise(runs):
    """Medians of requests/s and latencies per target, and its wrk errors (socket errors and
    answers >= 400) in total."""
    return {name: {k: median([r[k] for r in rs]) for k in ("rps", "p50", "p99", "p999")} | {"errors": sum(r["errors"] for r in rs)}
            for name, rs in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="measured window per run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--burst", type=int, default=1000, help="cold-start burst size")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts in the many-accounts phase")
    parser.add_argument("--only", choices=["accounts", "proxy", "redis", "tracing"],
                        help="run only this phase (accounts: the many-accounts phase; proxy: the Payroc API pass-through; "
                             "redis: the fleet-wide rate limit; tracing: sessions with traces exported against none)")
    parser.add_argument("--smoke", action="store_true", help="a quick run that only proves the harness works")
    parser.add_argument("--instructions", type=int, metavar="REQUESTS",
                        help="only count instructions per request under callgrind (bench/instructions.sh)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.warmup, args.burst, args.accounts = 1, 1, 1, 100, 50

    workdir = Path(tempfile.mkdtemp(prefix="hfb-bench-"))
    upstream = Upstream(workdir)
    servers, processes = [upstream], []
    try:
        if args.instructions:
            print_instructions(instructions(upstream, args.instructions))
            return
        if args.only:
            report = {"failures": []}
        else:
            servers.append(start_nginx_proxy(upstream))
            report = run(args, upstream, servers[-1], processes)
        if args.only in (None, "accounts"):
            identity = IdentityServer().start()
            servers.append(identity)
            report["accounts"] = many_accounts(args, report, upstream, identity, processes)
        if args.only in (None, "proxy"):
            report["proxy"] = proxy_phase.run(args, report, upstream, processes)
        if args.only in (None, "redis"):
            report["redis"] = redis_phase.run(args, report, upstream, processes)
        if args.only in (None, "tracing"):
            report["tracing"] = tracing_phase.run(args, report, upstream, processes)
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.only:
        print_report(args, report)
    if "accounts" in report:
        print_accounts(args, report["accounts"])
    if "proxy" in report:
        proxy_phase.print_report(args, report["proxy"])
    if report.get("redis"):
        redis_phase.print_report(args, report["redis"])
    if report.get("tracing"):
        tracing_phase.print_report(args, report["tracing"])
    if report["failures"]:
        print("FAILED: " + "; ".join(report["failures"]))
        sys.exit(1)


def run(args, upstream, nginx_proxy, processes):
    report = {"failures": []}
    # Start-up to listening, median of five fresh starts.
    startups = []
    for _ in range(5):
        port = free_port()
        process, started = start_broker(upstream, port)
        startups.append(wait_listening(port, started))
        stop(process)
    report["startup_ms"] = median(startups) * 1000
    report["binary_mb"] = BROKER.stat().st_size / 1e6

    broker_port, reference_port = free_port(), free_port()
    broker, started = start_broker(upstream, broker_port)
    processes.append(broker)
    wait_listening(broker_port, started)
    reference, started = start_reference(upstream, reference_port)
    processes.append(reference)
    wait_listening(reference_port, started)
    time.sleep(0.5)
    report["rss_idle_mb"] = proc_status(broker.pid, "VmRSS") / 1024

    targets = {
        "broker": f"http://127.0.0.1:{broker_port}/hosted-fields/session",
        "reference": f"http://127.0.0.1:{reference_port}/hosted-fields/session",
        "upstream": f"http://127.0.0.1:{upstream.port}{SESSION_PATH}",
    }
    runs = wrk_rounds(args, targets)
    report["runs"] = runs
    report["rss_peak_mb"] = proc_status(broker.pid, "VmHWM") / 1024
    summary = summarise(runs)
    report["summary"] = summary

    # Added latency at half of the broker's max throughput, over calling the upstream
    # directly; the reference and nginx as a proxy show what any proxy hop costs on this
    # machine. Twice: with every process free to use both CPUs, and with oha and the
    # upstream nginx confined to CPU 0, so they can never hold both CPUs while the proxy
    # waits for one.
    proxy_url = f"http://127.0.0.1:{nginx_proxy.port}/hosted-fields/session"
    proxied = hey(proxy_url, 20, 2)
    if proxied != {201: 20}:
        report["failures"].append(f"nginx proxy answered {proxied}")
    if args.smoke:
        report["half_load"] = None
    else:
        rate = summary["broker"]["rps"] / 2
        half_targets = {"broker": targets["broker"], "reference": targets["reference"],
                        "nginx proxy": proxy_url, "upstream": targets["upstream"]}
        all_cpus = sorted(os.sched_getaffinity(0))
        placements = {"all processes on all CPUs": half_load(args, report, half_targets, rate, None)}
        if len(all_cpus) > 1:
            first = all_cpus[0]
            upstream.pin({first})
            try:
                placements[f"oha and upstream nginx on CPU {first}"] = half_load(args, report, half_targets, rate, [first])
            finally:
                upstream.pin(set(all_cpus))
        report["half_load"] = {"rate": rate, "placements": placements}

    # Cold start: a freshly started broker meets `burst` concurrent first requests.
    stop(broker)
    upstream.reset_identity_log()
    cold_port = free_port()
    cold, started = start_broker(upstream, cold_port)
    processes.append(cold)
    wait_listening(cold_port, started)
    statuses = hey(f"http://127.0.0.1:{cold_port}/hosted-fields/session", total=args.burst, concurrency=args.burst)
    created = statuses.get(201, 0)
    report["cold"] = {"identity_calls": upstream.identity_calls(), "created": created,
                      "errors": args.burst - created, "statuses": statuses}
    stop(cold)

    if report["cold"]["identity_calls"] != 1:
        report["failures"].append(f"cold burst made {report['cold']['identity_calls']} identity calls")
    if report["cold"]["errors"]:
        report["failures"].append(f"cold burst had {report['cold']['errors']} errors: {statuses}")
    if summary["broker"]["errors"]:
        report["failures"].append(f"broker runs had {summary['broker']['errors']} errors")
    return report


def write_tenants(path, count, rotated=()):
    """A tenants file of `count` accounts (see FIRST_TERMINAL); accounts whose number is in
    `rotated` get another literal api_key. Written whole, then renamed into place."""
    lines = []
    for i in range(1, count + 1):
        key = f"key-{i:04d}" + ("-rotated" if i in rotated else "")
        lines += ["[[account]]", f'name = "acct-{i:04d}"', f'api_key = "{key}"',
                  f'terminals = ["{FIRST_TERMINAL + i - 1}"]', ""]
    partial = path.with_suffix(".partial")
    partial.write_text("\n".join(lines))
    partial.rename(path)


def start_tenants_broker(upstream, identity, port, admin_port, tenants):
    """The broker with accounts from the tenants file only (no `default`), identity calls to
    `identity`, sessions to the nginx upstream, `/metrics` and `/status` on `admin_port`. The
    file is not polled (an hour's interval): the reload is the SIGHUP the phase sends, and a
    poll catching the new content first would make it two reloads."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BROKER__SERVER__LISTEN": f"127.0.0.1:{port}",
        "BROKER__SERVER__METRICS_LISTEN": f"127.0.0.1:{admin_port}",
        "BROKER__PAYROC__IDENTITY_URL": identity.url,
        "BROKER__PAYROC__API_URL": f"http://127.0.0.1:{upstream.port}/v1",
        "BROKER__TENANTS__FILE": str(tenants),
        "BROKER__TENANTS__WATCH_INTERVAL_MS": "3600000",
        "BROKER__LOG__FORMAT": "json",
    }
    started = time.perf_counter()
    process = subprocess.Popen([str(BROKER), "serve"], env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, started


def http_get(url):
    """(status, body) of a GET; (0, "") when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def wait_ready(port, started, process, timeout=120.0, every=0.020):
    """Seconds from `started` until `/readyz` answers 200, polled every 20 ms."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
            return time.perf_counter() - started
        if process.poll() is not None:
            raise RuntimeError(f"the broker exited ({process.returncode}) before it was ready")
        time.sleep(every)
    raise RuntimeError(f"/readyz on {port} not 200 after {timeout}s")


def metric(admin_port, name, **labels):
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    body = http_get(f"http://127.0.0.1:{admin_port}/metrics")[1]
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in body.splitlines():
        series, _, value = line.rpartition(" ")
        if (series == name or series.startswith(name + "{")) and all(w in series for w in wanted):
            total += float(value)
    return total


def many_accounts(args, report, upstream, identity, processes):
    """The broker with `args.accounts` accounts (tenants file) against a 20 ms identity:
    start to ready, peak identity calls in flight, RSS idle (and a 1-account broker's), session
    throughput over all the accounts' terminals relative to the 1-account broker (alternating
    rounds, as the main phase), and a reload changing one account's key."""
    failures, count = report["failures"], args.accounts
    result = {"count": count}
    many_file, one_file = upstream.dir / "tenants-many.toml", upstream.dir / "tenants-one.toml"
    write_tenants(many_file, count)
    write_tenants(one_file, 1)

    identity.reset()
    port, admin = free_port(), free_port()
    many, started = start_tenants_broker(upstream, identity, port, admin, many_file)
    processes.append(many)
    result["ready_s"] = wait_ready(port, started, many)
    counts = identity.counts()
    result["startup_identity_calls"], result["peak_in_flight"] = counts["total"], counts["peak"]
    calls = counts["calls"]
    if calls:  # how many calls the warm-up kept in flight on average, first call to last answer
        span = max(end for _, end in calls) - min(start for start, _ in calls)
        result["mean_in_flight"] = sum(end - start for start, end in calls) / span if span > 0 else float("nan")
    time.sleep(0.5)
    # Idle: nothing has asked the broker anything but /readyz. Then after one /metrics scrape
    # (rendering a few series per account), as a Prometheus-scraped broker would be.
    result["rss_idle_mb"] = proc_status(many.pid, "VmRSS") / 1024
    result["accounts_metric"] = metric(admin, "broker_accounts")
    time.sleep(1.0)
    result["rss_scraped_mb"] = proc_status(many.pid, "VmRSS") / 1024

    one_port, one_admin = free_port(), free_port()
    one, started = start_tenants_broker(upstream, identity, one_port, one_admin, one_file)
    processes.append(one)
    result["one_ready_s"] = wait_ready(one_port, started, one)
    time.sleep(0.5)
    result["one_rss_idle_mb"] = proc_status(one.pid, "VmRSS") / 1024
    metric(one_admin, "broker_accounts")
    time.sleep(1.0)
    result["one_rss_scraped_mb"] = proc_status(one.pid, "VmRSS") / 1024

    targets = {"1 account": (one_port, 1), f"{count} accounts": (port, count)}
    runs = {name: [] for name in targets}
    for round_no in range(args.rounds):
        for name in rotated(targets, round_no):
            target_port, terminals = targets[name]
            url = f"http://127.0.0.1:{target_port}/hosted-fields/session"
            script = {"script": "accounts.lua", "script_args": (FIRST_TERMINAL, terminals)}
            wrk(url, args.connections, args.warmup, **script)
            runs[name].append(wrk(url, args.connections, args.seconds, **script))
    result["runs"] = runs
    result["summary"] = {name: {k: median([r[k] for r in rs]) for k in ("rps", "p50", "p99")}
                         | {"errors": sum(r["errors"] for r in rs)} for name, rs in runs.items()}
    result["ratio"] = result["summary"][f"{count} accounts"]["rps"] / result["summary"]["1 account"]["rps"]
    result["rss_peak_mb"] = proc_status(many.pid, "VmHWM") / 1024
    result["one_rss_peak_mb"] = proc_status(one.pid, "VmHWM") / 1024
    stop(one)
    for name, s in result["summary"].items():
        if s["errors"]:
            failures.append(f"{name}: {s['errors']} errors or non-201 answers")
    # Every account minted: the sessions metric names each one that answered a 201.
    result["accounts_with_sessions"] = sum(
        1 for line in http_get(f"http://127.0.0.1:{admin}/metrics")[1].splitlines()
        if line.startswith("broker_sessions_total{") and 'status="201"' in line and not line.endswith(" 0"))

    # A reload that changes one account's key: exactly one identity call, with the new key.
    identity.reset()
    before = metric(admin, "broker_token_refreshes_total", account="acct-0001", outcome="success")
    write_tenants(many_file, count, rotated={1})
    sighup = time.perf_counter()
    many.send_signal(signal.SIGHUP)
    deadline = sighup + 30
    while metric(admin, "broker_tenants_reloads_total", outcome="applied") < 1 and time.perf_counter() < deadline:
        time.sleep(0.01)
    result["reload_applied_s"] = time.perf_counter() - sighup
    while (metric(admin, "broker_token_refreshes_total", account="acct-0001", outcome="success") <= before
           and time.perf_counter() < deadline):
        time.sleep(0.01)
    result["reload_token_s"] = time.perf_counter() - sighup
    time.sleep(2.0)  # anything else the reload set off would have happened by now
    counts = identity.counts()
    result["reload_applied"] = metric(admin, "broker_tenants_reloads_total", outcome="applied")
    result["reload_identity_calls"], result["reload_keys"] = counts["total"], counts["by_key"]
    result["reload_status"] = http_get(f"http://127.0.0.1:{port}/readyz")[0]
    stop(many)

    if result["peak_in_flight"] > 8:
        failures.append(f"{count} accounts: {result['peak_in_flight']} identity calls in flight at once")
    if result["startup_identity_calls"] != count:
        failures.append(f"{count} accounts: {result['startup_identity_calls']} identity calls at start-up")
    if result["accounts_with_sessions"] != count:
        failures.append(f"only {result['accounts_with_sessions']} of {count} accounts minted a session")
    if result["reload_applied"] != 1:
        failures.append(f"reload: broker_tenants_reloads_total{{outcome=\"applied\"}} is {result['reload_applied']}")
    if result["reload_keys"] != {"key-0001-rotated": 1}:
        failures.append(f"reload of one changed key made identity calls {result['reload_keys']}")
    return result


def print_accounts(args, a):
    count, s = a["count"], a["summary"]
    many, one = s[f"{count} accounts"], s["1 account"]
    print(f"\nmany accounts: {count} accounts (tenants file), identity answering after 20 ms; "
          f"{args.rounds} rounds x {args.seconds}s, {args.connections} connections, medians\n")
    print("| metric | target | measured |")
    print("| --- | --- | ---: |")
    print(f"| start to ready (`/readyz` 200, polled every 20 ms) | < 10 s | {a['ready_s']:.2f} s |")
    print(f"| identity calls at start-up / peak in flight | {count} / ≤ 8 | {a['startup_identity_calls']} / {a['peak_in_flight']} |")
    print(f"| RSS idle, {count} accounts (1 account) | < 40 MB | {a['rss_idle_mb']:.1f} MB ({a['one_rss_idle_mb']:.1f} MB) |")
    print(f"| RSS idle after one `/metrics` scrape, {count} accounts (1 account) | < 40 MB | "
          f"{a['rss_scraped_mb']:.1f} MB ({a['one_rss_scraped_mb']:.1f} MB) |")
    print(f"| session throughput, {count} accounts / 1 account | ≥ 0.95 | {a['ratio']:.3f} ({many['rps']:.0f} / {one['rps']:.0f} requests/s) |")
    print(f"| identity calls after a reload changing one key | exactly 1 | {a['reload_identity_calls']} |")
    print()
    print(f"- p50 / p99: {count} accounts {many['p50']:.2f} / {many['p99']:.2f} ms, 1 account {one['p50']:.2f} / {one['p99']:.2f} ms; "
          f"errors {many['errors']} / {one['errors']}; accounts that minted: {a['accounts_with_sessions']} of {count}")
    print("- every round (requests/s): " + "; ".join(
        f"{name} " + ", ".join(f"{r['rps']:.0f}" for r in rs) for name, rs in a["runs"].items()))
    print(f"- warm-up: {a.get('mean_in_flight', float('nan')):.2f} identity calls in flight on average; 1 account: ready in "
          f"{a['one_ready_s']:.2f} s; broker_accounts {a['accounts_metric']:.0f} with {count}")
    print(f"- RSS peak after the throughput runs: {a['rss_peak_mb']:.1f} MB ({count} accounts), {a['one_rss_peak_mb']:.1f} MB (1 account)")
    print(f"- reload (SIGHUP): applied after {a['reload_applied_s'] * 1000:.0f} ms, the new token after "
          f"{a['reload_token_s'] * 1000:.0f} ms; identity calls by key {a['reload_keys']}; /readyz then {a['reload_status']}")
    print(f"ACCOUNTS {count}: ready {a['ready_s']:.2f} s, peak in flight {a['peak_in_flight']}, RSS idle {a['rss_idle_mb']:.1f} MB, "
          f"throughput ratio {a['ratio']:.3f}, reload identity calls {a['reload_identity_calls']}")


def half_load(args, report, targets, rate, cpus):
    """Median p99 per target at `rate`, over as many alternating rounds as wrk's (with three,
    two slow rounds of one target decided its median). Each measured window follows
    a warm-up at the same rate, as wrk's runs do: the first seconds after a change of load
    (new connections, a heavy run just ended) are not what the target is about."""
    p99s = {name: [] for name in targets}
    for round_no in range(args.rounds):
        for name in rotated(targets, round_no):
            oha(targets[name], rate, args.warmup, cpus=cpus)
            measured = oha(targets[name], rate, args.seconds, cpus=cpus)
            p99s[name].append(measured["percentiles"]["p99"])
            if set(measured["statuses"]) != {201}:
                report["failures"].append(f"half load on {name}: statuses {measured['statuses']}")
    half = {name: median(values) for name, values in p99s.items()}
    return {"p99": half, "rounds": p99s,
            "added_p99": {name: p99 - half["upstream"] for name, p99 in half.items() if name != "upstream"}}


def instructions(upstream, requests):
    """User-space instructions per session request under valgrind's callgrind: 200 warm-up
    requests, counters zeroed, then `requests` more (hey, 4 at a time), for each target."""
    counts = {}
    for name, start in (("broker", start_broker), ("reference", start_reference)):
        dump = upstream.dir / f"callgrind.{name}"
        port = free_port()
        process, started = start(upstream, port, prefix=("valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}"))
        url = f"http://127.0.0.1:{port}/hosted-fields/session"
        try:
            wait_listening(port, started, timeout=60)
            while hey(url, 1, 1).get(201) != 1:  # the token arrives slowly under valgrind
                time.sleep(0.2)
            hey(url, 200, 4)
            control = lambda flag: subprocess.run(["callgrind_control", flag, str(process.pid)], check=True, capture_output=True)
            control("-z")
            statuses = hey(url, requests, 4)
            control("-d")
        finally:
            process.kill()
            process.wait()
        if statuses.get(201) != requests:
            raise RuntimeError(f"{name} answered {statuses} under callgrind")
        annotated = subprocess.run(["callgrind_annotate", f"{dump}.1"], check=True, capture_output=True, text=True).stdout
        total = int(re.search(r"([\d,]+) \(100\.0%\) +PROGRAM TOTALS", annotated).group(1).replace(",", ""))
        counts[name] = total / requests
    return counts


def print_instructions(counts):
    print(f"instructions per request: broker {counts['broker']:.0f}, reference {counts['reference']:.0f}")
    print(f"INSTRUCTIONS broker/reference: {counts['broker'] / counts['reference']:.3f}")


def print_report(args, report):
    s = report["summary"]
    print(f"\nhosted-fields-broker benchmark: {args.rounds} rounds x {args.seconds}s, {args.connections} connections, "
          f"{os.cpu_count()} CPUs, medians\n")
    print(f"| target | requests/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print(f"| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in ("broker", "reference", "upstream"):
        r = s[name]
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p999']:.2f} | {r['errors']} |")
    h, c = report["half_load"], report["cold"]
    print()
    placements = h["placements"] if h else {}
    for placement, m in placements.items():
        print(f"- half load ({h['rate']:.0f} req/s, oha open-loop, latency-corrected, 16 connections; {placement}): "
              "p99 " + ", ".join(f"{name} {p99:.2f} ms" for name, p99 in m["p99"].items()) + "; added p99 over upstream: "
              + ", ".join(f"{name} {added:+.2f} ms" for name, added in m["added_p99"].items()))
    if not h:
        print("- half load: not measured in the smoke run")
    print(f"- cold burst of {args.burst}: {c['identity_calls']} identity call(s), {c['created']} created, {c['errors']} errors")
    print(f"- broker RSS: idle {report['rss_idle_mb']:.1f} MB, peak {report['rss_peak_mb']:.1f} MB at {args.connections} connections")
    print(f"- start-up to listening: {report['startup_ms']:.1f} ms (median of 5); binary {report['binary_mb']:.1f} MB ({BUILD.name} build)")
    print("- every round (requests/s): " + "; ".join(
        f"{name} " + ", ".join(f"{r['rps']:.0f}" for r in report["runs"][name]) for name in ("broker", "reference")))
    for placement, m in placements.items():
        print(f"- every half-load round (p99 ms; {placement}): " + "; ".join(
            f"{name} " + ", ".join(f"{v:.2f}" for v in m["rounds"][name]) for name in m["rounds"]))
    throughput = s["broker"]["rps"] / s["reference"]["rps"]
    p99 = s["broker"]["p99"] / s["reference"]["p99"]
    print(f"RATIOS broker/reference: throughput {throughput:.3f}, p99 {p99:.3f}")


if __name__ == "__main__":
    main()
