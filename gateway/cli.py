"""`campus-gateway`: run the daemon, check a site file, watch the stream, act on alarms, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.config import ROLES, ConfigError, Mqtt, SiteConfig, load_site
from gateway.kernel.logs import JsonFormatter, SafeFormatter
from gateway.topics import Topics, site_filter

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_STATE_FAILED = 4  # the state database failed: the service manager starts the gateway again
RETRIES_WHEN_BUSY = 120


def _setup_logging(verbose: bool, json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    # one record, one line: control characters a peer or an operator sends are escaped
    handler.setFormatter(JsonFormatter() if json_lines else
                         SafeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    # force: onvif-zeep-async calls logging.basicConfig when it is imported, which would leave
    # its plain handler (no escaping of peers' control characters, no JSON) in place of ours
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler],
                        force=True)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    # paho logs every loop pass without a socket as an error; our own callbacks say what matters
    logging.getLogger("gateway.mqtt.paho").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _load(path: str) -> SiteConfig:
    try:
        return load_site(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


async def serve_until_signalled(main: Any) -> None:
    """Run ``main(stop)`` until SIGINT or SIGTERM sets ``stop``; a second signal forces exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await main(stop)


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.app import Gateway
    from gateway.supervisor import Fatal

    site = _load(args.config)
    _setup_logging(args.verbose, site.gateway.log_format == "json")
    os.umask(0o077)  # whatever the gateway writes (state, audit, logins) is its user's only
    try:
        gateway = Gateway(site)
    except ConfigError as exc:  # e.g. a secret's environment variable is not set
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        asyncio.run(serve_until_signalled(gateway.run))
    except Fatal as exc:  # logged where it happened; every other part was stopped first
        print(f"campus-gateway: {exc}; exiting with {EXIT_STATE_FAILED}", file=sys.stderr)
        return EXIT_STATE_FAILED
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    if (args.config is None) == (args.file is None):
        print("validate: give the site file once: campus-gateway validate -c site.yaml",
              file=sys.stderr)
        return EXIT_CONFIG
    path = args.config or args.file
    site = _load(path)
    kinds = Counter(d.driver for d in site.devices)
    summary = ", ".join(f"{n} {driver}" for driver, n in sorted(kinds.items()))
    print(f"{path}: ok: site {site.site.id}, {len(site.devices)} devices ({summary}), "
          f"{len(site.linkage)} linkage rules")
    centre = site.alarm_centre
    if centre is not None:
        print(f"{path}: alarm centre: account {centre.account}, {centre.protocol}, "
              f"{'encrypted' if centre.key else 'NOT encrypted'}, receivers "
              f"{', '.join(r.url for r in centre.receivers)}; a failed path is reported within "
              f"{centre.reporting_time():g} s (EN 50136-1 {centre.category()}, on paper)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.doctor import examine

    site = _load(args.config)
    failed = False
    for finding in examine(site):
        print(finding, flush=True)
        failed = failed or finding.status == "FAIL"
    return 1 if failed else 0


def _broker_args(args: argparse.Namespace,
                 ) -> tuple[str | list[str], str, Topics | None, Mqtt | None]:
    """The broker URL, topic prefix, the gateway's topics and (from a site file) the MQTT
    section with its credentials and TLS files."""
    if args.config:
        site = _load(args.config)
        topics = Topics(site.mqtt.prefix, site.site.id, site.gateway.id)
        return args.broker or site.mqtt.urls, site.mqtt.prefix, topics, site.mqtt
    if not args.broker:
        print("give --broker mqtt://host:port (or -c site.yaml)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return args.broker, args.prefix, (
        Topics(args.prefix, args.site, args.gateway) if args.site else None
    ), None


def cmd_tail(args: argparse.Namespace) -> int:
    from gateway import remote

    url, prefix, topics, mqtt_site = _broker_args(args)
    site = args.site or (topics.site if topics else None)
    try:
        client = remote.connect(url, site=mqtt_site)
    except ConnectionError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(f"# watching {site_filter(prefix, site)} on {url}", file=sys.stderr, flush=True)
    try:
        for message in remote.subscribe(client, site_filter(prefix, site)):
            if args.json:
                body: Any = message.payload.decode(errors="replace")
                with contextlib.suppress(ValueError):
                    body = json.loads(body) if body else None
                if "/media/" in message.topic:  # a snapshot's JPEG: its size, not its bytes
                    body = {"bytes": len(message.payload)}
                line = json.dumps({"topic": message.topic, "retained": message.retained,
                                   "payload": body}, ensure_ascii=False)
            else:
                line = remote.describe(prefix, message) or ""
            if line:
                print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
    return 0


def cmd_audit_stream(args: argparse.Namespace) -> int:
    """Account for every gateway's sequence on the platform's broker (gateway/stream_audit)."""
    import threading

    from gateway.central import CentralSubscriber
    from gateway.stream_audit import StreamAudit, describe

    urls, prefix, _topics, mqtt_site = _broker_args(args)
    audit = StreamAudit(prefix, stats_interval=args.stats_interval)
    lock = threading.Lock()

    def take(topic: str, payload: bytes, _retained: bool, _at: float) -> None:
        with lock:
            audit.take(topic, payload)

    def show() -> None:
        with lock:
            report = audit.report()
        print(json.dumps(report) if args.json else describe(report), flush=True)

    try:
        subscriber = CentralSubscriber(urls, audit.filters, take, client_id=args.client_id,
                                       site=mqtt_site).start()
    except ConnectionError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(f"# auditing {', '.join(audit.filters)} on {', '.join(subscriber.urls)}",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    shown = started
    try:
        while args.seconds is None or time.monotonic() - started < args.seconds:
            time.sleep(0.2)
            if args.every and time.monotonic() - shown >= args.every:
                shown = time.monotonic()
                show()
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.stop()
    show()
    with lock:
        return 1 if audit.lost_anything() else 0


def _operator_token(args: argparse.Namespace) -> tuple[str, str]:
    operator = args.operator or os.environ.get("CAMPUS_OPERATOR", "")
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
    else:
        token = os.environ.get("CAMPUS_OPERATOR_TOKEN", "")
    if not operator or not token:
        print("who is asking? give --operator NAME (or CAMPUS_OPERATOR) and the token in "
              "CAMPUS_OPERATOR_TOKEN or --token-file", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return operator, token


def _remote_requests(args: argparse.Namespace, requests: Iterable[tuple[str, dict[str, Any]]],
                     on_answer: Callable[[], None] | None = None,
                     ) -> list[dict[str, Any]] | int:
    """Send requests one after the other on one connection; their answers, or an exit code.
    Stops at the first refusal (printed). ``on_answer``: called after each answer (progress)."""
    from gateway import remote

    url, _prefix, topics, mqtt_site = _broker_args(args)
    if topics is None:
        print("give --site and --gateway (or -c site.yaml)", file=sys.stderr)
        return EXIT_CONFIG
    operator, token = _operator_token(args)
    try:
        client = remote.connect(url, site=mqtt_site)
    except ConnectionError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    answers = []
    try:
        for name, command_args in requests:
            for _attempt in range(RETRIES_WHEN_BUSY):
                answer = remote.request(client, topics, name, operator=operator, token=token,
                                        args=command_args)
                code = (answer.get("error") or {}).get("code")
                if code not in ("rate_limited", "busy"):
                    break
                time.sleep(1.0)  # a long series (a credential file's parts): keep to the rate
            if answer.get("status") != "ok":
                error = answer.get("error") or {}
                print(f"{name} refused: {error.get('code')}: {error.get('message')}",
                      file=sys.stderr)
                return 1
            answers.append(answer)
            if on_answer is not None:
                on_answer()
    except TimeoutError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        client.disconnect()
        client.loop_stop()
    return answers


def _remote_command(args: argparse.Namespace, name: str, command_args: dict[str, Any]) -> int:
    answers = _remote_requests(args, [(name, command_args)])
    if isinstance(answers, int):
        return answers
    data = answers[0].get("data")
    if name == "alarm.list" and not args.json:
        if not data:
            print("no open alarms")
        for a in data or []:
            print(f"{a['alarm_id']}  {a['state']:24} {a['severity']:8} {a['condition']:10} "
                  f"{a['device_id']}/{a['point']}  {a['zone']}  {a['location']}"
                  f"{'  [DRILL]' if a['drill'] else ''}")
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_alarm(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _remote_command(args, "alarm.list", {})
    if args.action == "report":
        return _remote_command(args, "alarm.report",
                               {"alarm_id": args.alarm_id, "kind": args.kind})
    name = {"ack": "alarm.acknowledge", "reset": "alarm.reset"}[args.action]
    return _remote_command(args, name, {"alarm_id": args.alarm_id, "note": args.note})


def _key_values(pairs: list[str]) -> dict[str, Any] | None:
    """``KEY=VALUE`` words as arguments (a value that reads as JSON is taken as JSON)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            print(f"expected KEY=VALUE, got {pair!r}", file=sys.stderr)
            return None
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def cmd_command(args: argparse.Namespace) -> int:
    """Any command of the command table, by its name (the table drives this subcommand)."""
    from gateway.command_table import COMMANDS
    if args.name is None:
        for name, spec in sorted(COMMANDS.items()):
            print(f"{name:24} {spec.role:10} {spec.summary}")
        return 0
    if args.name not in COMMANDS:
        print(f"unknown command {args.name!r}; `campus-gateway command` lists them",
              file=sys.stderr)
        return EXIT_CONFIG
    params = _key_values(args.params)
    if params is None:
        return EXIT_CONFIG
    if args.args_file:
        try:
            loaded = json.loads(Path(args.args_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{args.args_file}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if not isinstance(loaded, dict):
            print(f"{args.args_file}: the arguments must be a JSON object", file=sys.stderr)
            return EXIT_CONFIG
        params = {**loaded, **params}
    return _remote_command(args, args.name, params)


def cmd_device(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _remote_command(args, "device.list", {})
    params = _key_values(args.params)
    if params is None:
        return EXIT_CONFIG
    return _remote_command(args, "device.action",
                           {"device": args.device, "action": args.name, "args": params})


def cmd_drill(args: argparse.Namespace) -> int:
    if args.action == "start":
        return _remote_command(args, "drill.start", {"note": args.note})
    return _remote_command(args, "drill.stop", {})


def _moment(value: str | None) -> str | None:
    """An ISO 8601 time with its offset, or ``+2h`` / ``+90m`` from now, as ISO 8601."""
    from datetime import UTC, datetime, timedelta

    from gateway.kernel.fields import parse_duration

    if value is None:
        return None
    if value.startswith("+"):
        return (datetime.now(UTC) + timedelta(seconds=parse_duration(value[1:]))).isoformat()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        print(f"{value!r}: expected a time such as 2026-12-01T17:00+08:00 or +2h",
              file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    if moment.tzinfo is None:
        print(f"{value!r}: give the time's offset (e.g. +08:00)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return moment.isoformat()


def cmd_visitor(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _remote_command(args, "visitor.list", {"on_campus": args.on_campus})
    if args.action == "close":
        return _remote_command(args, "visitor.close", {"visit_id": args.visit_id})
    answers = _remote_requests(args, [("visitor.add", {
        "name": args.name, "host": args.host, "purpose": args.purpose,
        "valid_from": _moment(args.valid_from), "valid_until": _moment(args.until),
        "gates": args.gate or [], "entries": args.entries})])
    if isinstance(answers, int):
        return answers
    visit = answers[0]["data"]
    if args.json:
        print(json.dumps(visit, indent=2, ensure_ascii=False))
    else:
        print(f"visit {visit['visit_id']}: pass code {visit['pass_code']}, valid "
              f"{visit['valid_from']} to {visit['valid_until']}, gates "
              f"{', '.join(visit['gates']) or 'all'}, {visit['entries_allowed']} entries")
    if args.qr:
        import segno

        segno.make_qr(visit["pass_code"], error="m").save(args.qr, scale=8, border=4)
        print(f"QR code of the pass written to {args.qr}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from gateway.access.credentials import SyncError
    from gateway.access.imports import CredentialFile
    from gateway.progress import Progress

    if args.action == "status":
        return _remote_command(args, "access.status", {})
    path = Path(args.file)
    reading = Progress(f"{args.file}: checking", 0, "bytes")
    try:
        file = CredentialFile(path, progress=reading.update)
    except SyncError as exc:
        reading.close()
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    reading.close()
    with file:
        version = args.version
        if version is None:
            status = _remote_requests(args, [("access.status", {})])
            if isinstance(status, int):
                return status
            version = int(status[0]["data"]["credentials_version"]) + 1
        sending = Progress(f"{args.file}: sending", file.parts, "parts")
        answers = _remote_requests(
            args, (("credentials.snapshot", part) for part in file.snapshot_parts(version)),
            on_answer=sending.step)
        sending.close()
        if isinstance(answers, int):
            return answers
        last = answers[-1]["data"]
        print(f"{args.file}: version {last['version']}: {last['persons']} persons, "
              f"{last['credentials']} credentials ({file.parts} parts, {file.rows} rows)")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    """Lockdown, gates, releases, roll call: one request each."""
    name, command_args = {
        "lockdown-start": ("lockdown.start", lambda: {"note": args.note}),
        "lockdown-stop": ("lockdown.stop", dict),
        "gates": ("gate.list", dict),
        "open": ("gate.open", lambda: {"gate": args.gate}),
        "on-campus": ("access.on_campus", lambda: {"category": args.category}),
        "forgive": ("access.forgive", lambda: {"person_id": args.person}),
        "release": ("student.release", lambda: {
            "person_id": args.person, "valid_from": _moment(args.valid_from),
            "valid_until": _moment(args.until), "note": args.note}),
    }[args.action]
    return _remote_command(args, name, command_args())


def cmd_operator_token(args: argparse.Namespace) -> int:
    from gateway.commands import token_digest

    token = secrets.token_urlsafe(24)
    print(f"token (give it to {args.name} only; it is not stored): {token}")
    print("add to the site file:")
    print(f"  operators:\n    - {{name: {args.name}, role: {args.role}, "
          f"token_sha256: {token_digest(token)}}}")
    return 0


def _new_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text().strip()
    first = getpass.getpass(f"new password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return first


def cmd_operator(args: argparse.Namespace) -> int:
    """Console logins: kept (argon2-hashed) in the state dir of the site file's gateway."""
    from gateway.console.operators import ConsoleOperators, OperatorError

    site = _load(args.config)
    os.umask(0o077)
    store = ConsoleOperators(site.gateway.state_dir / "operators.sqlite3")
    try:
        if args.action == "add":
            store.add(args.name, args.role, _new_password(args))
            print(f"operator {args.name} ({args.role}) can log in to the console")
        elif args.action == "passwd":
            store.set_password(args.name, _new_password(args))
            print(f"password of {args.name} changed; their console sessions have ended")
        elif args.action in ("disable", "enable"):
            store.set_disabled(args.name, args.action == "disable")
            print(f"operator {args.name} {args.action}d"
                  + ("; their console sessions have ended" if args.action == "disable" else ""))
        else:
            for op in store.list():
                print(f"{op.name:20} {op.role:10} {'disabled' if op.disabled else 'active'}")
    except OperatorError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from gateway.contract import write_contract

    for path in write_contract(Path(args.out)):
        print(path)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    """WS-Discovery for ONVIF cameras; site-file stanzas on stdout."""
    from drivers.onvif.discovery import discover

    if (args.username is None) != (args.password_file is None):
        print("give --username and --password-file together", file=sys.stderr)
        return EXIT_CONFIG
    password = Path(args.password_file).read_text().strip() if args.password_file else None
    print(asyncio.run(discover(args.timeout, args.username, password,
                               Path(args.password_file).resolve() if args.password_file
                               else None)), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    _setup_logging(args.verbose)
    os.umask(0o077)
    return run_demo(Path(args.config), args.broker, args.port, args.control, args.console_port,
                    args.dialect)


def _add_remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="mqtt://host:port")
    p.add_argument("-c", "--config", help="take broker, prefix, site and gateway from a site file")
    p.add_argument("--prefix", default="campus")
    p.add_argument("--site", help="site id (default: every site)")
    p.add_argument("--gateway", default="gw1", help="gateway id")
    p.add_argument("--json", action="store_true", help="raw JSON output")


def _add_operator(p: argparse.ArgumentParser) -> None:
    p.add_argument("--operator", help="operator name (or CAMPUS_OPERATOR)")
    p.add_argument("--token-file", help="file holding the operator token "
                   "(default: CAMPUS_OPERATOR_TOKEN)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="campus-gateway", description=__doc__)
    root.add_argument("-v", "--verbose", action="store_true")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the gateway daemon for a site")
    p.add_argument("-c", "--config", required=True)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a site file; exit 2 listing every problem")
    p.add_argument("-c", "--config", help="the site file")
    p.add_argument("file", nargs="?", help="the site file without -c (the old form)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("doctor", help="check a site: state dir, broker, devices, logins")
    p.add_argument("-c", "--config", required=True)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("tail", help="watch the event stream as the central platform sees it")
    _add_remote(p)
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("audit-stream", help="account for every gateway's events on the "
                       "platform's broker: gaps, duplicates, reorders, stalls; exit 1 on a loss")
    p.add_argument("--broker", action="append", metavar="URL",
                   help="mqtt://host:port; repeat it for each node of a cluster")
    p.add_argument("-c", "--config", help="take broker, credentials and prefix from a site file")
    p.add_argument("--prefix", default="campus")
    p.add_argument("--for", dest="seconds", type=float, metavar="SECONDS",
                   help="report after this long and exit (default: at Ctrl-C)")
    p.add_argument("--every", type=float, metavar="SECONDS", help="also report this often")
    p.add_argument("--stats-interval", type=float, default=60.0, metavar="SECONDS",
                   help="the gateways' stats interval until their stats show it")
    p.add_argument("--client-id", default="campus-stream-audit",
                   help="the audit's persistent session on the broker")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_audit_stream, site=None)

    p = sub.add_parser("alarm", help="list, acknowledge, reset or mark alarms reported")
    asub = p.add_subparsers(dest="action", required=True)
    for action in ("list", "ack", "reset", "report"):
        q = asub.add_parser(action)
        _add_remote(q)
        _add_operator(q)
        if action != "list":
            q.add_argument("alarm_id")
        if action in ("ack", "reset"):
            q.add_argument("--note", default="")
        if action == "report":
            q.add_argument("--kind", required=True, choices=["first", "written", "general"])
    p.set_defaults(func=cmd_alarm)

    p = sub.add_parser("command", help="any command of the gateway by its name (without a "
                       "name: the list, with the role each needs)")
    _add_remote(p)
    _add_operator(p)
    p.add_argument("name", nargs="?", help="e.g. alarm.police_called")
    p.add_argument("params", nargs="*", help="arguments as KEY=VALUE (JSON values allowed)")
    p.add_argument("--args-file", help="the arguments as a JSON object in a file")
    p.set_defaults(func=cmd_command)

    p = sub.add_parser("drill", help="start or stop a drill")
    dsub = p.add_subparsers(dest="action", required=True)
    for action in ("start", "stop"):
        q = dsub.add_parser(action)
        _add_remote(q)
        _add_operator(q)
        if action == "start":
            q.add_argument("--note", default="")
    p.set_defaults(func=cmd_drill)

    p = sub.add_parser("device", help="list devices, or make one act (output, clock-sync, ...)")
    vsub = p.add_subparsers(dest="action", required=True)
    q = vsub.add_parser("list")
    _add_remote(q)
    _add_operator(q)
    q = vsub.add_parser("act", help="e.g. act gate-house-io output name=gate-release on=true")
    _add_remote(q)
    _add_operator(q)
    q.add_argument("device")
    q.add_argument("name", metavar="ACTION")
    q.add_argument("params", nargs="*", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_device)

    p = sub.add_parser("visitor", help="register a visit (its pass code, a QR code), list, close")
    vsub = p.add_subparsers(dest="action", required=True)
    q = vsub.add_parser("add")
    q.add_argument("--name", required=True, help="the visitor's name, as the guard calls it")
    q.add_argument("--host", required=True, help="person id of the host")
    q.add_argument("--purpose", default="")
    q.add_argument("--from", dest="valid_from", help="default now; ISO 8601 or +30m")
    q.add_argument("--until", required=True, help="ISO 8601 with offset, or +2h")
    q.add_argument("--gate", action="append", help="a gate the pass opens (repeat; default: "
                   "access.visitors.default_gates)")
    q.add_argument("--entries", type=int, default=1)
    q.add_argument("--qr", help="write the pass as a QR code image (.png or .svg)")
    q = vsub.add_parser("list")
    q.add_argument("--on-campus", action="store_true", help="only visitors on campus now")
    q = vsub.add_parser("close")
    q.add_argument("visit_id")
    for q in vsub.choices.values():
        _add_remote(q)
        _add_operator(q)
    p.set_defaults(func=cmd_visitor)

    p = sub.add_parser("credentials", help="import a credential file (CSV or JSON), status")
    csub = p.add_subparsers(dest="action", required=True)
    q = csub.add_parser("import", help="replace the list with a file's (a snapshot)")
    q.add_argument("file")
    q.add_argument("--version", type=int, help="version of the list (default: held + 1)")
    csub.add_parser("status")
    for q in csub.choices.values():
        _add_remote(q)
        _add_operator(q)
    p.set_defaults(func=cmd_credentials)

    p = sub.add_parser("access", help="lockdown, gates, who is on campus, releases, forgive")
    xsub = p.add_subparsers(dest="action", required=True)
    q = xsub.add_parser("lockdown-start", help="lock every gate (fire release still wins)")
    q.add_argument("--note", default="")
    xsub.add_parser("lockdown-stop")
    xsub.add_parser("gates", help="gates and their modes")
    q = xsub.add_parser("open", help="open a gate once")
    q.add_argument("gate")
    q = xsub.add_parser("on-campus", help="who is on campus now (the roll call)")
    q.add_argument("--category", choices=["staff", "student", "visitor", "contractor"])
    q = xsub.add_parser("forgive", help="anti-passback: forget where a person is")
    q.add_argument("person")
    q = xsub.add_parser("release", help="let a student leave during school hours")
    q.add_argument("person")
    q.add_argument("--from", dest="valid_from")
    q.add_argument("--until", required=True, help="ISO 8601 with offset, or +1h")
    q.add_argument("--note", default="")
    for q in xsub.choices.values():
        _add_remote(q)
        _add_operator(q)
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("operator", help="console logins: add, passwd, disable, enable, list")
    osub = p.add_subparsers(dest="action", required=True)
    for action in ("add", "passwd", "disable", "enable", "list"):
        q = osub.add_parser(action)
        q.add_argument("-c", "--config", required=True, help="the site file (its state dir)")
        if action != "list":
            q.add_argument("name")
        if action == "add":
            q.add_argument("--role", default="guard", choices=list(ROLES))
        if action in ("add", "passwd"):
            q.add_argument("--password-file", help="read the password from a file (default: "
                           "asked twice)")
    p.set_defaults(func=cmd_operator)

    p = sub.add_parser("operator-token", help="make a token for an operator and its hash")
    p.add_argument("name")
    p.add_argument("--role", default="guard", choices=list(ROLES))
    p.set_defaults(func=cmd_operator_token)

    p = sub.add_parser("contract", help="write the JSON Schemas and the AsyncAPI document")
    p.add_argument("--out", default="docs/contract")
    p.set_defaults(func=cmd_contract)

    p = sub.add_parser("discover", help="find ONVIF cameras (WS-Discovery) and print stanzas")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers")
    p.add_argument("--username", help="read each camera's profiles as this user")
    p.add_argument("--password-file", help="the password (the stanzas refer to this file)")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("demo", help="embedded broker + simulated campus + gateway, in one go")
    p.add_argument("-c", "--config", default="config/demo-campus.yaml")
    p.add_argument("--broker", help="use this broker (mqtt://host:port) instead of the "
                   "embedded one")
    p.add_argument("--port", type=int, default=1883, help="port of the embedded broker")
    p.add_argument("--control", default="127.0.0.1:8787",
                   help="address of the simulators' control API")
    p.add_argument("--console-port", type=int, help="port of the guard-room console (default: "
                   "the site file's)")
    p.add_argument("--dialect", action="append", default=[], metavar="ID=NAME",
                   help="a simulated camera, gate controller or reader speaks another vendor's "
                        "dialect (campus-sim dialects lists them); repeatable")
    p.set_defaults(func=cmd_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
