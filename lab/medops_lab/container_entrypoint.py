"""Entry point of the clinic service images built from the lab's release artifacts (the lab's
container clinic, containers.py, and the container deploy tests): ``serve`` (the default) listens
on $PORT instead of the port in the shared config, so two versions run side by side; ``migrate``
runs the release's migrations. The configuration (and the secrets files it names) is the clinic's
shared directory, mounted at $CLINIC_SERVICE_CONFIG's directory.

Started as root (a rootful container), it first becomes the owner of that configuration: the
clinic's account, as an image with a non-root USER would run; its 0600 secrets stay readable."""

import os
import sys

sys.path.insert(0, "/srv/release")

from clinic_service import __main__ as service  # noqa: E402  pylint: disable=wrong-import-position
from clinic_service import config  # noqa: E402  pylint: disable=wrong-import-position


def become_config_owner(path: str) -> None:
    info = os.stat(path)
    if os.geteuid() == 0 and info.st_uid != 0:
        os.setgroups([])
        os.setgid(info.st_gid)
        os.setuid(info.st_uid)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    path = os.environ["CLINIC_SERVICE_CONFIG"]
    try:
        become_config_owner(path)
        cfg = config.load(path)
    except (OSError, config.ConfigError) as exc:
        print(f"clinic_service: {exc}", file=sys.stderr)
        return 2
    if command == "migrate":
        from clinic_service.migrate import main as migrate_main  # pylint: disable=import-outside-toplevel

        return migrate_main(cfg)
    if os.environ.get("PORT"):
        cfg.port = int(os.environ["PORT"])
    return service.serve(cfg)


if __name__ == "__main__":
    sys.exit(main())
