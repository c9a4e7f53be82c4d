"""The fleet-wide rate limit phase of bench/bench.py (`--only redis`, and after the pass-through
in a full run).

Two brokers, the same session requests (wrk, post.lua), the per-IP limit on in both with a rate
no run reaches (so every request is checked and none refused): one limits in memory, the other
asks a local `redis-server` (one script call per request, `--save '' --appendonly no`). The
ratio of their median requests/s is the cost of the shared limit; Redis competes for the same
two CPUs here, as a sidecar would not.
"""

import os
import shutil
import subprocess
import time

import bench

# A rate and burst no run reaches: every request is checked, none refused.
LIMIT = {"BROKER__RATE_LIMIT__PER_SECOND": "1000000", "BROKER__RATE_LIMIT__BURST": "1000000"}
TARGET = 0.6  # redis / memory requests/s, at least


class RedisServer:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self):
        self.port = bench.free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench.wait_listening(self.port, time.perf_counter())

    def script_calls(self):
        """Script calls Redis served (EVALSHA, and EVAL the first time)."""
        info = subprocess.run(["redis-cli", "-p", str(self.port), "INFO", "commandstats"],
                              capture_output=True, text=True).stdout
        return sum(int(line.split("calls=")[1].split(",")[0]) for line in info.splitlines()
                   if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")))

    def stop(self):
        bench.stop(self.process)


def run(args, report, upstream, processes):
    """Both brokers, wrk rounds as in the main phase, the ratio; fails the run on errors, on
    any 429, or if the Redis broker decided without Redis."""
    failures = report["failures"]
    if not shutil.which("redis-server"):
        failures.append("redis: redis-server is not installed (bench/run.sh installs it)")
        return None
    redis = RedisServer()
    try:
        ports = {name: (bench.free_port(), bench.free_port()) for name in ("memory", "redis")}
        env = {"memory": dict(LIMIT),
               "redis": LIMIT | {"BROKER__RATE_LIMIT__REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}}
        for name, (port, admin) in ports.items():
            broker, started = bench.start_broker(upstream, port, extra_env=env[name] | {
                "BROKER__SERVER__METRICS_LISTEN": f"127.0.0.1:{admin}"})
            processes.append(broker)
            bench.wait_ready(port, started, broker)
        time.sleep(0.5)  # the Redis connection is made in the background
        targets = {name: f"http://127.0.0.1:{port}/hosted-fields/session" for name, (port, _) in ports.items()}
        runs = bench.wrk_rounds(args, targets)
        summary = bench.summarise(runs)
        admin = ports["redis"][1]
        result = {"runs": runs, "summary": summary,
                  "ratio": summary["redis"]["rps"] / summary["memory"]["rps"],
                  "p99_ratio": summary["redis"]["p99"] / summary["memory"]["p99"],
                  "redis_up": bench.metric(admin, "broker_rate_limit_redis_up"),
                  "fallbacks": bench.metric(admin, "broker_rate_limit_fallback_total", mode="local"),
                  "limited": {name: bench.metric(a, "broker_rate_limited_total") for name, (_, a) in ports.items()},
                  "script_calls": redis.script_calls(),
                  "requests": sum(x["requests"] for x in runs["redis"])}
    finally:
        redis.stop()
    for name, s in summary.items():
        if s["errors"]:
            failures.append(f"redis: wrk counted {s['errors']} errors or answers >= 400 on {name}")
    if any(result["limited"].values()):
        failures.append(f"redis: requests were refused by the limit {result['limited']}")
    # Every measured request was Redis's to decide (warm-ups add more script calls); a few may
    # have timed out and fallen back under load, no more than 1 %.
    if (result["redis_up"] != 1 or result["script_calls"] < result["requests"]
            or result["fallbacks"] > result["requests"] / 100):
        failures.append(f"redis: decisions were not Redis's (up {result['redis_up']}, script calls "
                        f"{result['script_calls']} for {result['requests']} measured requests, "
                        f"fallbacks {result['fallbacks']})")
    return result


def print_report(args, r):
    s = r["summary"]
    print(f"\nFleet-wide rate limit: POST /hosted-fields/session, every request checked, {args.rounds} rounds x "
          f"{args.seconds}s, {args.connections} connections, {os.cpu_count()} CPUs, {bench.BUILD.name} build, medians\n")
    print("| limit | requests/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, x in s.items():
        print(f"| {name} | {x['rps']:.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['p999']:.2f} | {x['errors']} |")
    print()
    print("- every round (requests/s): " + "; ".join(
        f"{name} " + ", ".join(f"{x['rps']:.0f}" for x in xs) for name, xs in r["runs"].items()))
    print(f"- Redis decided: {r['script_calls']} script calls for {r['requests']} measured requests (warm-ups too), "
          f"{r['fallbacks']:.0f} local fallbacks (timeouts under load), up {r['redis_up']:.0f}")
    print(f"- target: throughput >= {TARGET} x the in-memory limit "
          f"{'met' if r['ratio'] >= TARGET else 'NOT met'}")
    print(f"RATIOS redis/memory: throughput {r['ratio']:.3f}, p99 {r['p99_ratio']:.3f}")
