"""A release of a tiny clinic-like service for the container tests: serves /health/ready and
/api/version on $PORT (loopback), with the version baked into the image (/srv/VERSION). An image
holding /srv/BAD never turns ready. SIGTERM stops it cleanly, as a real service would."""

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSION = Path("/srv/VERSION").read_text(encoding="utf-8").strip()
BAD = Path("/srv/BAD").exists()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/api/version":
            status, body = 200, {"version": VERSION}
        elif self.path.startswith("/health"):
            status, body = (503, {"ready": False, "failed": ["warmup"]}) if BAD else (200, {"ready": True})
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
print(f"serving {VERSION} on port {os.environ['PORT']}", flush=True)
server.serve_forever(poll_interval=0.2)
