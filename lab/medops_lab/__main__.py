"""Lab control: ``python -m medops_lab [--state DIR] <command>``.

Commands: artifacts, up [--clinics N] [--layout production|release|blue_green], down [--purge],
status [--json], restart CLINIC, stop-service CLINIC, start-service CLINIC, slot-restart CLINIC SLOT,
slot-stop CLINIC SLOT, front-check CLINIC, front-reload CLINIC, container-migrate CLINIC VERSION,
stop-db, start-db, stop-redis, start-redis, pids, load CLINIC [--rps N] [--seconds S].
The state directory is --state, else $MEDOPS_LAB_STATE, else lab/state/ in the checkout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import artifacts, load
from .hosts import HostError
from .lab import LAYOUTS, Lab, LabError, state_dir
from .servers import ServerError

CLINIC_COMMANDS = {"restart": "restart", "stop-service": "stop_service", "start-service": "start_service",
                   "front-check": "front_check", "front-reload": "front_reload"}
SLOT_COMMANDS = {"slot-restart": "slot_restart", "slot-stop": "slot_stop"}
SIMPLE_COMMANDS = {"stop-db": "stop_db", "start-db": "start_db", "stop-redis": "stop_redis", "start-redis": "start_redis"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m medops_lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    state_opt = argparse.ArgumentParser(add_help=False)
    state_opt.add_argument("--state", default=argparse.SUPPRESS, help="lab state directory")
    parser.add_argument("--state", help="lab state directory (default: $MEDOPS_LAB_STATE or lab/state)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("artifacts", parents=[state_opt], help="build the release tarballs into <state>/artifacts")
    up = sub.add_parser("up", parents=[state_opt], help="start (or keep) PostgreSQL, Redis and every clinic service")
    up.add_argument("--clinics", type=int, default=3, help="number of clinics (default 3: kin, lub, gom)")
    up.add_argument("--environment", default="production", help="environment the services report (default production)")
    up.add_argument("--layout", choices=LAYOUTS, default=None,
                    help="the clinics' deploy strategies, chosen when the lab is created: production (default; kin "
                         "release, lub container, gom blue_green, as inventories/production), release or blue_green for all")
    up.add_argument("--blue-green", dest="layout", action="store_const", const="blue_green",
                    help="the same as --layout blue_green")
    down = sub.add_parser("down", parents=[state_opt], help="stop every process the lab started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    status = sub.add_parser("status", parents=[state_opt], help="per clinic: pid, port, version, health")
    status.add_argument("--json", action="store_true")
    sub.add_parser("pids", parents=[state_opt], help="pids of every running lab process (JSON)")
    for name in CLINIC_COMMANDS:
        cmd = sub.add_parser(name, parents=[state_opt], help=f"{name.replace('-', ' ')} of one clinic")
        cmd.add_argument("clinic")
    for name in SLOT_COMMANDS:
        cmd = sub.add_parser(name, parents=[state_opt], help=f"{name.replace('slot-', '')} one slot of a blue/green clinic")
        cmd.add_argument("clinic")
        cmd.add_argument("slot")
    migrate = sub.add_parser("container-migrate", parents=[state_opt],
                             help="run a release's migrations in a one-off container (the container clinic)")
    migrate.add_argument("clinic")
    migrate.add_argument("version")
    traffic = sub.add_parser("load", parents=[state_opt],
                             help="send steady /api/ traffic with the clinic's token, then print the answers by status")
    traffic.add_argument("clinic")
    traffic.add_argument("--rps", type=float, default=4.0, help="requests per second (default 4)")
    traffic.add_argument("--seconds", type=float, default=60.0, help="for how long (default 60)")
    for name in SIMPLE_COMMANDS:
        sub.add_parser(name, parents=[state_opt], help=name.replace("-", " ").replace("db", "the lab PostgreSQL"))
    return parser


def _print_status(status: dict) -> None:
    print(f"state {status['state']}")
    print(f"postgres port {status['postgres']['port']} pid {status['postgres']['pid'] or '-'}; "
          f"redis port {status['redis']['port']} pid {status['redis']['pid'] or '-'}")
    if "sshd" in status:
        print(f"sshd port {status['sshd']['port']} pid {status['sshd']['pid'] or '-'}; "
              f"artifacts {status['artifacts']['url']} pid {status['artifacts']['pid'] or '-'}")
    print(f"{'clinic':<7}{'name':<12}{'pid':>8}{'port':>7}  {'version':<20}health")
    for row in status["clinics"]:
        health = f"{row['http'] or '-'} {row['health']}" + (f" ({', '.join(row['degraded'])})" if row["degraded"] else "")
        print(f"{row['clinic']:<7}{row['name']:<12}{row['pid'] or '-':>8}{row['port']:>7}  {row['version'] or '-':<20}{health}")
        for slot, info in row.get("slots", {}).items():
            print(f"{'':<7}{'slot ' + slot:<12}{info['pid'] or '-':>8}{info['port']:>7}  {info['version'] or '-':<20}"
                  f"{'live' if info['live'] else 'idle'}")


def run(args) -> int:
    state = state_dir(args.state)
    lab = Lab(state)
    if args.command == "artifacts":  # where the lab serves them from, once it is up
        print(json.dumps(artifacts.build(Path(lab.data.get("artifacts_dir") or state / "artifacts")), indent=2))
        return 0
    started = time.monotonic()
    if args.command == "up":
        result = lab.up(args.clinics, args.environment, args.layout)
        result["elapsed"] = round(time.monotonic() - started, 2)
        print(json.dumps(result, indent=2))
    elif args.command == "down":
        result = lab.down()
        if args.purge and lab.file.exists():
            result["purged"] = lab.purge()
        print(json.dumps(result))
    elif args.command == "status":
        status = lab.status()
        print(json.dumps(status, indent=2)) if args.json else _print_status(status)
    elif args.command == "pids":
        print(json.dumps(lab.pids()))
    elif args.command in CLINIC_COMMANDS:
        print(json.dumps(getattr(lab, CLINIC_COMMANDS[args.command])(args.clinic)))
    elif args.command == "container-migrate":
        print(json.dumps(lab.container_migrate(args.clinic, args.version)))
    elif args.command == "load":
        clinic = lab.clinic(args.clinic)
        try:
            traffic = load.Load(clinic["base_url"], lab.read_secret(clinic["api_token_file"]), rps=args.rps)
        except ValueError as exc:
            raise LabError(str(exc)) from None
        with traffic:
            time.sleep(max(0.0, args.seconds))
        print(json.dumps(traffic.snapshot()))
    elif args.command in SLOT_COMMANDS:
        print(json.dumps(getattr(lab, SLOT_COMMANDS[args.command])(args.clinic, args.slot)))
    else:
        print(json.dumps(getattr(lab, SIMPLE_COMMANDS[args.command])()))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except (LabError, ServerError, HostError) as exc:
        print(f"medops_lab {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
