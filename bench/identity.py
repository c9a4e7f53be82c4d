"""A slow stand-in for Payroc's identity service, for the benchmark's many-accounts phase.

`POST /authorize` answers a Bearer token after `delay` seconds (20 ms, about what a real
identity call takes), and counts the calls: in total, per `x-api-key`, and how many were in
flight at once (now and the peak). Nothing else is served (404). It runs in threads of the
benchmark's own process (`IdentityServer(...).start()`), so bench.py reads the counters
directly; HTTP/1.1 keep-alive, so the broker's pooled connections are reused as with Payroc.
"""

import http.server
import threading
import time


class IdentityServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port=0, delay=0.020):
        super().__init__(("127.0.0.1", port), _Handler)
        self.delay = delay
        self.lock = threading.Lock()
        self.total = 0
        self.in_flight = 0
        self.peak = 0
        self.by_key = {}
        self.calls = []  # (arrived, answered) per call, perf_counter seconds
        self.thread = None

    @property
    def port(self):
        return self.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/authorize"

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    def counts(self):
        """A consistent copy of the counters."""
        with self.lock:
            return {"total": self.total, "in_flight": self.in_flight, "peak": self.peak, "by_key": dict(self.by_key),
                    "calls": list(self.calls)}

    def reset(self):
        """Zeroes the counters (calls in flight stay counted as in flight)."""
        with self.lock:
            self.total, self.peak, self.by_key, self.calls = 0, self.in_flight, {}, []


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write (`_answer`), with Nagle off: written in two pieces,
    # the body waited for the client's delayed ACK (40 ms), and a 20 ms identity took 60.
    disable_nagle_algorithm = True
    server: IdentityServer

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path != "/authorize":
            return self._answer(404, b'{"error":"not found"}')
        server, key = self.server, self.headers.get("x-api-key", "")
        arrived = time.perf_counter()
        with server.lock:
            server.total += 1
            server.by_key[key] = server.by_key.get(key, 0) + 1
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
        try:
            time.sleep(server.delay)
        finally:
            with server.lock:
                server.in_flight -= 1
                server.calls.append((arrived, time.perf_counter()))
        self._answer(200, b'{"access_token":"bench-access-token","expires_in":3600,"token_type":"Bearer"}')

    def do_GET(self):
        self._answer(404, b'{"error":"not found"}')

    def _answer(self, status, body):
        reason = {200: "OK", 404: "Not Found"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode() + body)

    def log_message(self, *args):
        pass
