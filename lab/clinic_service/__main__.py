"""Entry points: ``python -m clinic_service serve|migrate|version [--config PATH]`` (run from a release dir)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from . import VERSION, config


def _setup_logging(cfg) -> None:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {cfg.clinic} {VERSION} %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(cfg.log_dir / "service.log", encoding="utf-8")],
    )


def serve(cfg) -> int:
    from .app import make_server
    from .worker import QueueWorker

    _setup_logging(cfg)
    log = logging.getLogger("clinic_service")
    worker = QueueWorker(cfg, VERSION)
    server = make_server(cfg, worker)
    worker.start()

    def on_term(signum, frame):
        log.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    log.info("serving clinic %s version %s on %s:%d (pid %d)", cfg.clinic, VERSION, cfg.host, cfg.port, os.getpid())
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    clean = worker.stop(cfg.stop_timeout)
    log.info("stopped%s", "" if clean else " (worker still busy after stop_timeout)")
    return 0 if clean else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinic_service")
    parser.add_argument("command", choices=("serve", "migrate", "version"))
    parser.add_argument("--config", help="service.conf (default: ../../shared/service.conf from the release dir)")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(VERSION)
        return 0
    try:
        cfg = config.load(args.config or config.default_path())
    except config.ConfigError as exc:
        print(f"clinic_service: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        from .migrate import main as migrate_main

        return migrate_main(cfg)
    return serve(cfg)


if __name__ == "__main__":
    sys.exit(main())
