"""HTTP-push gate controllers, in both dialects: Hikvision ISAPI and the signed JSON webhook.

The simulated controller of the site file is taken offline once it has been seen, and the test
speaks for it (``gate_client.GateClient``): floods, overlong fields, slow and hung requests are
what no well-behaved controller sends. Bodies that are not events go through the simulated
controller's own ``push_raw``; for a clock of its own and repeated pushes it comes back online
and misbehaves itself (``misbehave``).
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gateway.kernel.http import REQUEST_DEADLINE
from tests.abuse.abuses import Abuse, AbuseRig, Family
from tests.abuse.gate_client import GateClient
from tests.conftest import free_port
from tests.http_gate.support import (
    ACCESS,
    ENV,
    MAC,
    PUSH_PASSWORD,
    TURNSTILE,
    VEHICLE,
    WEBHOOK_SECRET,
    isapi_controller,
    section,
    webhook_controller,
)

RECEIVER = "gate-controllers"
TAMPER = "access.reader_tamper"
MAX_BODY = 4096
HUNG_CONNECTIONS = 300  # half-sent requests left open: more than the receiver serves at once
LONG = 2_000  # characters of a free-text field: past its bound, within max_body


def stanza_of(controller: dict[str, Any]) -> Any:
    def stanza(_tmp: Path) -> list[dict[str, Any]]:
        receiver = section({**controller, "heartbeat_timeout": "3s"}, max_body=MAX_BODY)
        receiver["listen"] = {"host": "127.0.0.1", "port": free_port()}
        return [receiver]
    return stanza


def client(rig: AbuseRig) -> GateClient:
    found: GateClient = rig.state["client"]
    return found


def prepare(device: str) -> Any:
    def run(rig: AbuseRig) -> None:
        rig.act(RECEIVER, "offline", controller=device)  # from now on the test speaks for it
        stanza = next(d for d in yaml.safe_load(rig.site.read_text())["devices"]
                      if d["id"] == RECEIVER)
        base = f"http://127.0.0.1:{stanza['listen']['port']}"
        rig.state["client"] = GateClient(
            base, rig.family.name.rsplit("-", 1)[1], user=VEHICLE, password=PUSH_PASSWORD,
            mac=MAC, device_key="ET-2231-0042", secret=WEBHOOK_SECRET)
    return run


def finish(rig: AbuseRig) -> None:
    if "client" in rig.state:
        client(rig).close()


def push_raw(rig: AbuseRig, device: str, body: bytes) -> tuple[int, str]:
    """``body`` pushed by the simulated controller itself, with its digest or signature."""
    async def push() -> tuple[int, bytes]:
        fleet = rig.sims.campus.device(RECEIVER)
        controller = fleet.controller(device)  # type: ignore[attr-defined]
        answer: tuple[int, bytes] = await controller.push_raw(body, "application/json")
        return answer

    status, content = rig.sims.run(push)
    return status, content.decode(errors="replace")


def tamper_through(rig: AbuseRig, device: str, **kwargs: Any) -> dict[str, Any]:
    """A tamper alarm pushed now reaches us (and is restored after)."""
    mark = rig.mark()
    answer = client(rig).tamper(True, **kwargs)
    assert answer.status_code == 200, (answer.status_code, answer.text)
    try:
        (event,) = rig.wait(mark, TAMPER, device, timeout=10)
    finally:
        client(rig).tamper(False)
    return event


def only_real(rig: AbuseRig, mark: int, device: str) -> None:
    types = [e["type"] for e in rig.since(mark, "", device) if ".alarm." not in e["type"]]
    assert all(t.startswith("campus.access.reader_tamper") for t in types), types


def family(dialect: str, device: str, controller: dict[str, Any]) -> Family:
    # --- flood: as many tampers as HTTP carries -------------------------------------------------
    def flood_start(rig: AbuseRig) -> None:
        stop = threading.Event()
        statuses: list[int] = []

        def run() -> None:
            active = True
            while not stop.is_set():
                statuses.append(client(rig).tamper(active).status_code)
                active = not active

        mark = rig.mark()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        rig.state["flood"] = (stop, thread, statuses)
        rig.wait(mark, "device.flooding", device, timeout=15)  # the press comes mid-flood

    def flood_observe(rig: AbuseRig, mark: int) -> None:
        (flooding,) = rig.wait(mark, "device.flooding", device, timeout=15)
        assert flooding["severity"] == "critical"
        statuses = rig.state["flood"][2]
        for _ in range(50):  # the refused request's answer may still be on its way
            if 503 in statuses:
                break
            rig.quiet(0.1)
        assert 503 in statuses, "a controller over its budget is told to send again"

    def flood_stop(rig: AbuseRig) -> None:
        stop, thread, _ = rig.state.pop("flood")
        mark = rig.mark()
        stop.set()
        thread.join(10)
        rig.wait(mark, "device.flood_ended", device, timeout=20)
        for _ in range(50):  # leave the tamper restored, however long the budget takes
            if client(rig).tamper(False).status_code == 200:
                break
            rig.quiet(0.2)

    # --- oversized: a body over max_body, and a free-text field longer than its bound ------------
    def oversized_observe(rig: AbuseRig, mark: int) -> None:
        status, text = push_raw(rig, device,
                                b'{"type": "heartbeat", "pad": "' + b"x" * MAX_BODY + b'"}')
        assert status == 413 and "4096" in text, (status, text)
        if dialect == "webhook":  # its free text: a tamper's detail
            event = tamper_through(rig, device, detail="d" * LONG)
            assert "detail" in event.get("truncated", ""), event
            return
        # an ISAPI tamper's text is the gateway's own; its card number is the device's
        answer = client(rig).card("7" * LONG)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        (event,) = rig.wait(mark, "access.granted", device, timeout=10)
        assert "credential" in event.get("truncated", ""), event

    # --- malformed: bodies that do not parse; answered 400 with the reason, nothing published -----
    def malformed_observe(rig: AbuseRig, mark: int) -> None:
        for body in (b'{"type": "tamper", "active": tr', b"<EventNotificationAlert><",
                     b"\xff\xfe\x00garbage", b"[]", b'{"a":' * 40 + b"1" + b"}" * 40):
            status, text = push_raw(rig, device, body)
            assert status == 400 and text.strip(), (body, status, text)
        only_real(rig, mark, device)
        tamper_through(rig, device)  # and the controller's next real event is taken

    # --- time extremes: the simulated controller's own clock (its misbehave action) ----------
    def simulated(rig: AbuseRig, action: str, **args: Any) -> None:
        rig.act(RECEIVER, action, controller=device, **args)

    def simulated_tamper(rig: AbuseRig) -> dict[str, Any]:
        """The simulated controller's tamper reaches us, and its restoring after it."""
        mark = rig.mark()
        simulated(rig, "tamper")
        (event,) = rig.wait(mark, TAMPER, device, timeout=10)
        simulated(rig, "tamper-restore")
        rig.wait(mark, TAMPER + "_restored", device, timeout=10)
        return event

    def misbehaving(**how: Any) -> Any:
        def start(rig: AbuseRig) -> None:
            simulated(rig, "online")  # beside the test's client, which keeps heartbeating
            simulated(rig, "misbehave", **how)
        return start

    def behaving(rig: AbuseRig) -> None:
        simulated(rig, "misbehave")
        simulated(rig, "offline")

    def times_observe(rig: AbuseRig, mark: int) -> None:
        now = datetime.now(UTC)
        for when in ("0001-01-01T00:00:00+08:00", "1970-01-01T00:00:00Z",
                     "9999-12-31T23:59:59-08:00",
                     (now - timedelta(days=3)).isoformat(timespec="seconds")):
            simulated(rig, "misbehave", device_time=when)
            event = simulated_tamper(rig)
            assert abs(datetime.fromisoformat(event["time"]) - datetime.now(UTC)) < timedelta(
                minutes=2), (when, event["time"])
            assert "devicetime" in event, f"{when}: the device's own time is not kept"

    # --- slow and hung peers --------------------------------------------------------------------
    def slow_observe(rig: AbuseRig, mark: int) -> None:
        dribbling = client(rig).slow_tamper(True, chunk_delay=0.05)
        tamper_through(rig, device)  # the receiver is not held up by the slow request
        dribbling.join(30)
        answer = client(rig).slow_answer
        if dialect == "webhook":
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        else:  # an ISAPI request cannot carry its digest unasked: challenged like any other
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert not rig.since(mark, "device.offline", device)
        client(rig).tamper(False)

    def hung_start(rig: AbuseRig) -> None:
        rig.state["hung_since"] = rig.mark()
        client(rig).hung.set()
        rig.state["hung"] = [client(rig).hang_open() for _ in range(HUNG_CONNECTIONS)]

    def hung_observe(rig: AbuseRig, mark: int) -> None:
        (offline,) = rig.wait(mark, "device.offline", device, timeout=15)
        assert "no request" in offline["data"]["reason"], offline["data"]["reason"]
        # the receiver still serves a controller that speaks, hung connections or not
        tamper_through(rig, device)
        rig.wait(mark, "device.online", device, timeout=10)
        # the hung peer kept connections_per_client of them (each answered 408 at the request
        # deadline); every other was closed at once
        kept, *_, refused = rig.state["hung"]
        kept.settimeout(REQUEST_DEADLINE + 5)
        answer = kept.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        refused.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # its half request unread: a reset
            assert refused.recv(4096) == b""

    def hung_stop(rig: AbuseRig) -> None:
        for sock in rig.state.pop("hung"):
            sock.close()
        client(rig).hung.clear()
        since = rig.state.pop("hung_since")
        if not rig.since(since, "device.online", device):  # its heartbeats bring it back
            rig.wait(since, "device.online", device, timeout=15)

    # --- retries of one event: the simulated controller sends each accepted push 4 more times ----
    def retry_observe(rig: AbuseRig, mark: int) -> None:
        simulated_tamper(rig)  # and its restoring: a later event through, the repeats all taken
        rig.quiet(0.5)
        tampers = rig.since(mark, TAMPER, device)
        restored = rig.since(mark, TAMPER + "_restored", device)
        assert (len(tampers), len(restored)) == (1, 1), (
            f"{len(tampers)} tamper and {len(restored)} restored events for 5 sends of each")

    return Family(
        name=f"http_gate-{dialect}", driver="http_gate", devices=stanza_of(controller),
        ready=(device,), site={"access": ACCESS}, env=ENV,
        prepare=prepare(device), finish=finish,
        abuses={
            "flood": Abuse(flood_start, flood_observe, flood_stop),
            "oversized": Abuse(observe=oversized_observe),
            "malformed": Abuse(observe=malformed_observe),
            "time": Abuse(misbehaving(), times_observe, behaving),
            "slow": Abuse(observe=slow_observe),
            "hung": Abuse(hung_start, hung_observe, hung_stop),
            "retry": Abuse(misbehaving(repeats=4), retry_observe, behaving),
        })


ISAPI = family("isapi", VEHICLE, isapi_controller(mode="decides"))
WEBHOOK = family("webhook", TURNSTILE, webhook_controller(mode="decides"))
