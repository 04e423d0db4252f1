"""Entry point of the clinic service images the container deploy tests build from the lab's release
artifacts: ``serve`` (the default) listens on $PORT instead of the port in the shared config, so
two versions run side by side; ``migrate`` runs the release's migrations. The configuration (and
the secrets files it names) is the lab clinic's shared directory, mounted at
$CLINIC_SERVICE_CONFIG's directory."""

import os
import sys

sys.path.insert(0, "/srv/release")

from clinic_service import __main__ as service  # noqa: E402  pylint: disable=wrong-import-position
from clinic_service import config  # noqa: E402  pylint: disable=wrong-import-position


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    try:
        cfg = config.load(os.environ["CLINIC_SERVICE_CONFIG"])
    except config.ConfigError as exc:
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
