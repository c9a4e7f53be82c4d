"""The Payroc API pass-through phase of bench/bench.py (`--only proxy`, and last in a full run).

A service of the tenants file (`GET /payments/*` on the `default` account) reads one payment
through the broker, `GET /payroc/v1/payments/M2MJOG6O2Y` with its key as Bearer token; the
broker checks key, path and rule, swaps in the account's token, forwards to the nginx upstream
(a fixed ~600-byte payment with a `Set-Cookie` it must drop) and writes its audit line.
The reference does the same pass-through bare. wrk drives both (proxy_get.lua) in the main
phase's rounds; the ratios broker/reference of the median requests/s and p99 are the result.
"""

import os
import urllib.error
import urllib.request

import bench

SERVICE, KEY = "bench", "bench-service-key-0123456789"
PAYMENT = "/payments/M2MJOG6O2Y"
TENANTS = f"""[[service]]
name = "{SERVICE}"
key = "{KEY}"
account = "default"
payroc_api = ["GET /payments/*"]
"""
# broker/reference: requests/s at least, p99 at most.
TARGETS = {"throughput": 0.85, "p99": 1.25}


def get(url, key=None):
    """(status, headers, body) of one GET, with `key` as Bearer token if given."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def check(targets, direct, failures):
    """One GET to each target before measuring: the upstream's own answer (200, a JSON body, a
    cookie), then broker and reference must give back its status, body and Content-Type; the
    broker must not pass the cookie on. The size of the body."""
    status, headers, body = get(direct)
    if status != 200 or not headers.get_all("Set-Cookie"):
        failures.append(f"proxy: the upstream answered {status} with Set-Cookie {headers.get_all('Set-Cookie')}")
    for name, url in targets.items():
        got, got_headers, got_body = get(url, KEY)
        if (got, got_body, got_headers.get("Content-Type")) != (200, body, headers.get("Content-Type")):
            failures.append(f"proxy: {name} answered {got} ({got_headers.get('Content-Type')}, {len(got_body)} bytes), "
                            f"not the upstream's 200 ({headers.get('Content-Type')}, {len(body)} bytes)")
        if name == "broker" and got_headers.get_all("Set-Cookie"):
            failures.append(f"proxy: the broker passed on Set-Cookie {got_headers.get_all('Set-Cookie')}")
    return len(body)


def run(args, report, upstream, processes):
    """The broker (the `default` account from bench.start_broker's environment, plus the service
    above from a tenants file, `/metrics` on an admin listener) and a reference, each started
    for this phase; the upstream's answer checked through both; wrk rounds as the main phase's.

    Fails the run if a check fails, if wrk counted a socket error or an answer >= 400 on either
    target, or if the broker's `broker_proxy_requests_total` counts a 3xx, a 5xx or a call that
    got no status. A 4xx it counts is a call wrk hung up on when a run ended (the audit's 499,
    "client closed request"): wrk saw no 4xx, and there can be at most one per connection per
    run. Its 2xx are 200s: the upstream answers nothing else there, as the check saw."""
    failures = report["failures"]
    tenants = upstream.dir / "tenants-proxy.toml"
    tenants.write_text(TENANTS)
    port, admin, reference_port = bench.free_port(), bench.free_port(), bench.free_port()
    broker, started = bench.start_broker(upstream, port, extra_env={
        "BROKER__TENANTS__FILE": str(tenants),
        "BROKER__SERVER__METRICS_LISTEN": f"127.0.0.1:{admin}",
    })
    processes.append(broker)
    bench.wait_ready(port, started, broker)
    reference, started = bench.start_reference(upstream, reference_port)
    processes.append(reference)
    bench.wait_listening(reference_port, started)

    targets = {"broker": f"http://127.0.0.1:{port}/payroc/v1{PAYMENT}",
               "reference": f"http://127.0.0.1:{reference_port}/payroc/v1{PAYMENT}"}
    result = {"body_bytes": check(targets, f"http://127.0.0.1:{upstream.port}/v1{PAYMENT}", failures)}
    runs = bench.wrk_rounds(args, targets, script="proxy_get.lua", script_args=(KEY,))
    summary = bench.summarise(runs)
    result |= {"runs": runs, "summary": summary,
               "ratios": {"throughput": summary["broker"]["rps"] / summary["reference"]["rps"],
                          "p99": summary["broker"]["p99"] / summary["reference"]["p99"]},
               "rss_peak_mb": bench.proc_status(broker.pid, "VmHWM") / 1024}

    calls = {c: bench.metric(admin, "broker_proxy_requests_total", status_class=c) for c in ("2xx", "3xx", "4xx", "5xx", "error")}
    measured = sum(r["requests"] for r in runs["broker"])
    result |= {"broker_calls": calls, "hung_up": calls["4xx"]}
    bench.stop(broker)
    bench.stop(reference)

    for name, s in summary.items():
        if s["errors"]:
            failures.append(f"proxy: wrk counted {s['errors']} errors or answers >= 400 on {name}")
    if calls["3xx"] or calls["5xx"] or calls["error"]:
        failures.append(f"proxy: the broker counted calls by status class {calls}")
    if calls["4xx"] > 2 * args.rounds * args.connections:  # warm-up and measured runs
        failures.append(f"proxy: the broker counted {calls['4xx']:.0f} 4xx, more than wrk could have hung up on")
    if calls["2xx"] < measured:
        failures.append(f"proxy: the broker counted {calls['2xx']:.0f} 2xx, wrk {measured} answers in the measured windows alone")
    return result


def print_report(args, p):
    s, ratios = p["summary"], p["ratios"]
    print(f"\nPayroc API pass-through: GET /payroc/v1{PAYMENT} ({p['body_bytes']} bytes of JSON back), "
          f"{args.rounds} rounds x {args.seconds}s, {args.connections} connections, {os.cpu_count()} CPUs, "
          f"{bench.BUILD.name} build, medians\n")
    print("| target | requests/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in s.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p999']:.2f} | {r['errors']} |")
    print()
    for key, unit in (("rps", "requests/s"), ("p99", "p99 ms")):
        print(f"- every round ({unit}): " + "; ".join(
            f"{name} " + ", ".join(f"{r[key]:.0f}" if key == "rps" else f"{r[key]:.2f}" for r in rs)
            for name, rs in p["runs"].items()))
    calls = p["broker_calls"]
    print(f"- broker: {sum(calls.values()):.0f} calls counted by broker_proxy_requests_total, {calls['2xx']:.0f} of them 2xx, "
          f"{p['hung_up']:.0f} cut off when a wrk run ended (audited as 499); RSS peak {p['rss_peak_mb']:.1f} MB")
    print(f"- targets: throughput >= {TARGETS['throughput']} x reference "
          f"{'met' if ratios['throughput'] >= TARGETS['throughput'] else 'NOT met'}, p99 <= {TARGETS['p99']} x reference "
          f"{'met' if ratios['p99'] <= TARGETS['p99'] else 'NOT met'}")
    print(f"RATIOS proxy broker/reference: throughput {ratios['throughput']:.3f}, p99 {ratios['p99']:.3f}")
