"""A small HTTP/1.1 load balancer for the several-instances tests (tests/test_scale_out.py).

`Balancer(backends, sticky=False)` listens on a free loopback port and forwards each request
(not each connection: clients keep connections alive) to the next backend in turn, streaming
the response back as it arrives (server-sent events included). It counts requests per backend.

With `sticky=True` it also learns, from responses, which backend issued an `Mcp-Session-Id`,
and sends later requests carrying that id to the same backend: the affinity that session-based
MCP revisions need (what HAProxy does with `stick store-response res.hdr(mcp-session-id)` and
`stick on req.hdr(mcp-session-id)`, docs/operations.md).
"""

import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


class Balancer:
    def __init__(self, backends, sticky=False):
        """`backends`: (host, port) pairs."""
        self.backends = list(backends)
        self.sticky = sticky
        self.counts = {b: 0 for b in self.backends}
        self.sessions = {}
        self._next = itertools.cycle(self.backends)
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                balancer._forward(self)

            do_POST = do_GET
            do_DELETE = do_GET
            do_PUT = do_GET
            do_OPTIONS = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def reset_counts(self):
        with self._lock:
            self.counts = {b: 0 for b in self.backends}

    def _pick(self, headers):
        session = headers.get("Mcp-Session-Id")
        with self._lock:
            if self.sticky and session in self.sessions:
                backend = self.sessions[session]
            else:
                backend = next(self._next)
            self.counts[backend] += 1
            return backend

    def _forward(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        backend = self._pick(handler.headers)
        upstream = http.client.HTTPConnection(*backend, timeout=120)
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP
        }
        if body is not None:
            headers["Content-Length"] = str(len(body))
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
        except OSError as e:
            handler.send_error(502, f"backend {backend} unreachable: {e}")
            return
        session = response.getheader("Mcp-Session-Id")
        if self.sticky and session:
            with self._lock:
                self.sessions[session] = backend
        handler.send_response_only(response.status, response.reason)
        for k, v in response.getheaders():
            if k.lower() not in HOP_BY_HOP:
                handler.send_header(k, v)
        known_length = response.getheader("Content-Length")
        if known_length is not None:
            handler.send_header("Content-Length", known_length)
            handler.end_headers()
            handler.wfile.write(response.read())
        else:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            try:
                while True:
                    chunk = response.read1(65536)
                    if not chunk:
                        break
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    handler.wfile.flush()
                handler.wfile.write(b"0\r\n\r\n")
            except OSError:
                handler.close_connection = True
        handler.wfile.flush()
        upstream.close()
