"""The traces phase of bench/bench.py (`--only tracing`, and last in a full run).

Two brokers, the same session requests (wrk, post.lua) in the main phase's rounds: one with
tracing off (no `OTEL_*` variable, as by default), one exporting every trace
(`OTEL_TRACES_SAMPLER=always_on`: a server span and a Payroc attempt span per request) over
OTLP/HTTP to `OtlpSink`, a small receiver in this process that answers 200 to every
`POST /v1/traces` and counts them and their bytes. The ratio of their median requests/s is the
cost of tracing. The sink competes for the same two CPUs here, as a node's collector agent
would.
"""

import http.server
import os
import threading

import bench

TARGET = 0.85  # tracing on / off requests/s, at least


class OtlpSink(http.server.ThreadingHTTPServer):
    """`POST /v1/traces` answered 200 with an empty ExportTraceServiceResponse; counted."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.exports = 0
        self.bytes = 0
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    def counts(self):
        with self.lock:
            return self.exports, self.bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/traces":
            with self.server.lock:
                self.server.exports += 1
                self.server.bytes += len(body)
            status = 200
        else:
            status = 404
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def run(args, report, upstream, processes):
    """Both brokers (`/metrics` on admin listeners), wrk rounds as in the main phase, the ratio.
    Fails the run on wrk errors or if the traced broker exported nothing."""
    failures = report["failures"]
    sink = OtlpSink().start()
    try:
        env = {"off": {},
               "on": {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_TRACES_SAMPLER": "always_on"}}
        ports = {name: (bench.free_port(), bench.free_port()) for name in env}
        for name, (port, admin) in ports.items():
            broker, started = bench.start_broker(upstream, port, extra_env=env[name] | {
                "BROKER__SERVER__METRICS_LISTEN": f"127.0.0.1:{admin}"})
            processes.append(broker)
            bench.wait_ready(port, started, broker)
        targets = {f"tracing {name}": f"http://127.0.0.1:{port}/hosted-fields/session" for name, (port, _) in ports.items()}
        runs = bench.wrk_rounds(args, targets)
        summary = bench.summarise(runs)
        admin = ports["on"][1]
        result = {"runs": runs, "summary": summary,
                  "ratio": summary["tracing on"]["rps"] / summary["tracing off"]["rps"],
                  "p99_ratio": summary["tracing on"]["p99"] / summary["tracing off"]["p99"],
                  "dropped": {reason: bench.metric(admin, "broker_trace_spans_dropped_total", reason=reason)
                              for reason in ("queue_full", "export_failed")},
                  "requests": sum(r["requests"] for r in runs["tracing on"])}
        result["exports"], result["bytes"] = sink.counts()
    finally:
        sink.stop()
    for name, s in summary.items():
        if s["errors"]:
            failures.append(f"tracing: wrk counted {s['errors']} errors or answers >= 400 on {name}")
    if not result["exports"]:
        failures.append("tracing: the traced broker exported nothing")
    return result


def print_report(args, r):
    s = r["summary"]
    print(f"\nTraces: POST /hosted-fields/session with tracing off and on (always_on, OTLP/HTTP to a local sink), "
          f"{args.rounds} rounds x {args.seconds}s, {args.connections} connections, {os.cpu_count()} CPUs, "
          f"{bench.BUILD.name} build, medians\n")
    print("| broker | requests/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, x in s.items():
        print(f"| {name} | {x['rps']:.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['p999']:.2f} | {x['errors']} |")
    print()
    print("- every round (requests/s): " + "; ".join(
        f"{name} " + ", ".join(f"{x['rps']:.0f}" for x in xs) for name, xs in r["runs"].items()))
    dropped = r["dropped"]
    print(f"- exported: {r['exports']} OTLP requests, {r['bytes'] / 1e6:.1f} MB, for {r['requests']} measured requests "
          f"(warm-ups too); spans dropped: {dropped['queue_full']:.0f} queue full, {dropped['export_failed']:.0f} export failed")
    print(f"- target: throughput >= {TARGET} x tracing off {'met' if r['ratio'] >= TARGET else 'NOT met'}")
    print(f"RATIOS tracing on/off: throughput {r['ratio']:.3f}, p99 {r['p99_ratio']:.3f}")
