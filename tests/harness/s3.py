"""An S3 API of the test's own: moto_server on a free loopback port (in memory, no real auth).

moto is a test server, not a store: objects live in its memory and vanish when it stops, any
key pair is accepted, and it stores the ChecksumSHA256 a client sends without checking it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from medops_lab.servers import free_port

ACCESS_KEY = "medops-test-access"
SECRET_KEY = "medops-test-Secret-5d1c7a9e3f"


class MotoS3:
    def __init__(self, bucket: str = "clinic-backups"):
        self.port = free_port()
        self.bucket = bucket
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "MotoS3":
        moto = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {self.port}") from None
                time.sleep(0.1)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, config=Config(s3={"addressing_style": "path"}))

    def keys(self, prefix: str = "") -> list[str]:
        page = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in page.get("Contents") or [])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
