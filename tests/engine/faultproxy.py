"""An HTTP proxy in front of a real registry that injects faults the registry cannot make.

    proxy = FaultProxy(registry.host)        # proxy.host is "127.0.0.1:PORT"
    proxy.cut_blobs_after = 200_000          # close blob responses after N body bytes
    proxy.stall_blobs_after = N; proxy.stalled.wait(); ...; proxy.release.set()
    proxy.manifest_type = "application/x-unknown"   # rewrite manifest media types
    proxy.ranges                              # Range headers seen on blob requests

Used only for faults: truncated downloads, a registry killed mid-transfer, manifests of a type
the real registry refuses to store.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from typing import Optional

from tests.engine.regserver import free_port


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cut_blobs_after: Optional[int] = None
        self.stall_blobs_after: Optional[int] = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.manifest_type: Optional[str] = None
        self.ranges: list[str] = []
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._forward()

            def do_GET(self):
                self._forward()

            def _forward(self):
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                is_blob = "/blobs/" in self.path
                if is_blob and "Range" in self.headers:
                    proxy.ranges.append(self.headers["Range"])
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, headers=headers)
                    resp = conn.getresponse()
                except OSError:
                    self.send_error(502)
                    return
                body_limit = None
                if is_blob and self.command == "GET" and resp.status in (200, 206):
                    body_limit = proxy.cut_blobs_after
                if "/manifests/" in self.path and proxy.manifest_type and self.command == "GET":
                    self._rewrite_manifest(resp)
                    return
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                self._stream(resp, body_limit, is_blob)
                self.close_connection = True

            def _stream(self, resp, body_limit, is_blob):
                sent = 0
                while True:
                    try:
                        chunk = resp.read(16384)
                    except OSError:
                        return
                    if not chunk:
                        return
                    if body_limit is not None and sent + len(chunk) > body_limit:
                        self.wfile.write(chunk[: body_limit - sent])
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    stall = proxy.stall_blobs_after
                    if is_blob and stall is not None and sent >= stall:
                        proxy.stall_blobs_after = None
                        proxy.stalled.set()
                        proxy.release.wait(30)
                        return  # the upstream was killed meanwhile: drop the client too

            def _rewrite_manifest(self, resp):
                body = resp.read()
                doc = json.loads(body)
                doc["mediaType"] = proxy.manifest_type
                body = json.dumps(doc).encode()
                self.send_response(resp.status)
                self.send_header("Content-Type", proxy.manifest_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
