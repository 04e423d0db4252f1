"""The nginx front of a blue/green clinic: one nginx per clinic, in a directory of its own.

Everything nginx reads or writes (configuration, upstream file, pid, logs, temporary files) lives
under that directory, never under /etc/nginx or /var; nginx runs in the foreground (``daemon off``)
so the lab keeps its pid like any other process. The upstream file holds the one ``server`` line
the deploy and rollback roles rewrite (roles/release/tasks/front_switch.yml) before ``nginx -s reload``; the lab
puts it where the clinic's deploy account can write (as production's /etc/nginx/clinic-upstream.conf).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .servers import LOOPBACK, ManagedProcess

TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
SERVER_LINE = re.compile(r"^\s*server\s+[^\s;]+:(\d+)\s*;", re.MULTILINE)


class FrontError(RuntimeError):
    """nginx is missing or its files cannot be written; the message says what to do."""


def nginx_binary() -> str:
    """nginx is in /usr/sbin, which an ordinary account's PATH may lack."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        raise FrontError("nginx not found: install the 'nginx' package (scripts/install-deps.sh does)")
    return found


class NginxFront:
    def __init__(self, directory: str | Path, port: int, name: str, binary: str, upstream_file: str | Path | None = None):
        self.dir = Path(directory)
        self.port = port
        self.name = name
        self.binary = binary
        self.conf = self.dir / "nginx.conf"
        self.upstream_file = Path(upstream_file) if upstream_file else self.dir / "upstream.conf"
        self.error_log = self.dir / "logs" / "error.log"
        self.access_log = self.dir / "logs" / "access.log"

    def argv(self, *extra: str) -> list[str]:
        # -e: nginx opens its error log before reading the configuration; keep that one here too.
        return [self.binary, "-p", f"{self.dir}/", "-e", str(self.error_log), "-c", str(self.conf), *extra]

    def check_command(self) -> list[str]:
        return self.argv("-t", "-q")

    def reload_command(self) -> list[str]:
        return self.argv("-s", "reload")

    def process(self, run_dir: str | Path) -> ManagedProcess:
        return ManagedProcess("front", Path(run_dir), self.argv(), port=self.port)

    def config_text(self) -> str:
        temp = "\n".join(f"    {name}_temp_path {self.dir / 'temp' / name};" for name in TEMP_DIRS)
        return f"""\
# Written by medops_lab: the front of clinic {self.name}. The deploy role rewrites upstream.conf only.
daemon off;
worker_processes 1;
pid {self.dir / 'nginx.pid'};
error_log {self.error_log} warn;
events {{
    worker_connections 1024;
}}
http {{
{temp}
    log_format front '$remote_addr [$time_local] "$request" $status $upstream_addr $request_time';
    access_log {self.access_log} front;
    upstream clinic_{self.name} {{
        include {self.upstream_file};
    }}
    server {{
        listen {LOOPBACK}:{self.port};
        location / {{
            proxy_pass http://clinic_{self.name};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""

    def write(self, first_port: int) -> bool:
        """Write the configuration; the upstream file only when missing (the deploy owns it then)."""
        for sub in ("logs", "temp", *(f"temp/{name}" for name in TEMP_DIRS)):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        changed = False
        if not self.upstream_file.exists():
            self.upstream_file.parent.mkdir(parents=True, exist_ok=True)
            self.upstream_file.write_text(f"# Written by medops_lab: the live slot.\nserver {LOOPBACK}:{first_port};\n",
                                          encoding="utf-8")
            changed = True
        text = self.config_text()
        try:
            if self.conf.read_text(encoding="utf-8") == text:
                return changed
        except OSError:
            pass
        tmp = self.conf.with_name(".nginx.conf.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.conf)
        return True

    def live_port(self) -> int | None:
        """The port the upstream file sends traffic to, or None."""
        try:
            found = SERVER_LINE.search(self.upstream_file.read_text(encoding="utf-8"))
        except OSError:
            return None
        return int(found.group(1)) if found else None
