"""A real HTTP server on a free loopback port whose answers the test scripts route by route.

A route is a callable ``handler(request) -> Reply``; it may keep state (a counter, a clock) so
that the service's health changes over time, hang (sleep) past a client's timeout, or answer
with any status, header and body.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from medops_lab.servers import LOOPBACK, free_port


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        return body, headers


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes


class HttpService:
    """``with HttpService({"/health": handler}) as svc: svc.url("/health")``"""

    def __init__(self, routes: dict | None = None, certfile: str | None = None, keyfile: str | None = None):
        self.routes = dict(routes or {})
        self.requests: list[Request] = []
        self.port = free_port()
        self.scheme = "https" if certfile else "http"
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
                service.requests.append(request)
                handler = service.routes.get(self.path.split("?", 1)[0])
                reply = handler(request) if handler else Reply(404, {"error": "no such route"})
                body, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests); nothing to tell it

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        self.server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self.server.daemon_threads = True
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}{path}"

    def start(self) -> "HttpService":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "HttpService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
