"""A camera that abuses the gateway (huge answers, MessageLimit ignored, huge snapshots) costs it
no more than its caps: the simulator misbehaves on real sockets, the driver refuses, counts and
goes on; a flood goes through the real flood budget (``FloodGuard``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from zeep.wsdl.bindings.soap import SoapBinding

from drivers.onvif.media import SnapshotClient, SnapshotFailed
from gateway.config import Flood
from gateway.event_bounds import VALUE, bound
from gateway.flood import FloodGuard
from gateway.kernel.boundary import FACT_TEXT
from gateway.kernel.events import DEVICE_FLOODING, CameraFact, Event
from gateway.kernel.ports import ActionError
from tests.onvif.support import (
    camera_events,
    facts,
    rig,
    run,
    stanza,
    state,
    statuses,
    subscribed,
    wait_for,
)
from tests.sink import ReportingSink

MiB = 1024 * 1024


class BudgetedSink(ReportingSink):
    """A sink whose readings pass a real flood budget first, as the intake's do."""

    def __init__(self, flood: Flood | None = None) -> None:
        super().__init__()
        self.emitted: list[Event] = []
        self.readings: list[int] = []
        self.guard = FloodGuard(flood or Flood(), self.emitted.append)

    def report(self, events: Sequence[Event], *, excess: int = 0,
               device: str | None = None) -> bool:
        owner = device or (events[0].device_id if events else None)
        if owner is not None and not self.guard.admit(owner, events, excess):
            self.refused.append(list(events))
            self.excess += excess
            return False
        if events:
            self.readings.append(len(events))
        return super().report(events, excess=excess, device=device)


def flood_events(sink: ReportingSink) -> list[Event]:
    return [e for e in camera_events(sink, "tamper") if "flood" in (e.subject or "")]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_answer_over_the_limit_is_refused_before_it_is_parsed(declared: bool) -> None:
    async def scenario() -> None:
        section = stanza(simulator={"pull_padding": 3 * MiB, "declare_length": declared,
                                    "rtsp": False})
        async with rig(section) as r:
            await wait_for(lambda: r.driver.subscriptions >= 2)  # refused, connected again
            problem = r.driver.last_problem
            assert "PullMessages: answer refused" in problem
            assert str(MiB) in problem  # the limit, named
            assert ("Content-Length" in problem) is declared
            assert not [f for f in facts(r.sink) if any(len(v) > 300
                                                        for v in f.source.values())]
            # the camera still works otherwise: its answers within the limit are used
            r.camera.abuse.pull_padding = 0
            r.camera.set_input("DigitalInput_1", True)
            await wait_for(lambda: facts(r.sink, "digital_input"))
    run(scenario())


def test_a_camera_whose_event_answers_are_all_refused_is_reported_and_comes_back() -> None:
    async def scenario() -> None:
        section = stanza(simulator={"pull_padding": 2 * MiB, "rtsp": False})
        async with rig(section) as r:
            await wait_for(lambda: state(r.sink) == "events_unreadable")
            (lost,) = [s for s in statuses(r.sink) if s.state == "events_unreadable"]
            assert "events cannot be read" in lost.reason and str(MiB) in lost.reason
            assert r.sink.availability_reports[-1][1] is False
            assert "events_unreadable" in r.sink.availability_reports[-1][2]
            # its answers fit again: up, and its events come
            r.camera.abuse.pull_padding = 0
            await wait_for(lambda: state(r.sink) == "up")
            assert r.sink.availability_reports[-1][1] is True
            r.camera.set_input("DigitalInput_1", True)
            await wait_for(lambda: facts(r.sink, "digital_input"))
    run(scenario())


@pytest.mark.parametrize(("how", "said"), [("xml", "is not well-formed XML"),
                                           ("envelope", "is no SOAP Envelope")])
def test_event_answers_that_are_no_soap_are_refused_and_said_so(how: str, said: str) -> None:
    async def scenario() -> None:
        section = stanza(simulator={"pull_malformed": how, "rtsp": False})
        async with rig(section) as r:
            await wait_for(lambda: state(r.sink) == "events_unreadable")
            (lost,) = [s for s in statuses(r.sink) if s.state == "events_unreadable"]
            assert f"the PullMessages answer {said}" in lost.reason, lost.reason
            r.camera.abuse.pull_malformed = ""
            await wait_for(lambda: state(r.sink) == "up")
            r.camera.set_input("DigitalInput_1", True)
            await wait_for(lambda: facts(r.sink, "digital_input"))
    run(scenario())


def test_one_refused_event_answer_is_only_a_reconnection() -> None:
    async def scenario() -> None:
        section = stanza(simulator={"rtsp": False})
        async with rig(section) as r:
            await subscribed(r.driver)
            subscriptions = r.driver.subscriptions
            r.camera.abuse.pull_padding = 2 * MiB
            await wait_for(lambda: r.driver.subscriptions > subscriptions)
            r.camera.abuse.pull_padding = 0
            r.camera.set_input("DigitalInput_1", True)
            await wait_for(lambda: facts(r.sink, "digital_input"))
            assert [s.state for s in statuses(r.sink)] == ["up"]
    run(scenario())


def test_a_long_camera_string_reaches_the_intake_which_cuts_it_and_says_so() -> None:
    async def scenario() -> None:
        section = stanza(simulator={"pull_padding": 20_000, "rtsp": False})
        async with rig(section) as r:
            await subscribed(r.driver)
            found = await wait_for(lambda: [e for e in camera_events(r.sink, "tamper")
                                            if isinstance(e.payload, CameraFact) and
                                            e.payload.source.get("Source", "").startswith("AAA")])
            event = found[0]
            assert isinstance(event.payload, CameraFact)
            # the driver escapes but keeps the camera's text (up to FACT_TEXT), so it is the
            # intake that cuts it, and names the field it cut
            assert len(event.payload.source["Source"]) == FACT_TEXT
            taken = bound(event, datetime.now(UTC), 86400.0, 86400.0)
            assert isinstance(taken.payload, CameraFact)
            assert len(taken.payload.source["Source"]) == VALUE
            assert taken.payload.source["Source"].endswith("…")
            assert any("source" in name for name in taken.truncated), taken.truncated
    run(scenario())


def test_a_camera_ignoring_message_limit_uses_only_what_was_asked() -> None:
    async def scenario() -> None:
        section = stanza(subscription={"message_limit": 10},
                         simulator={"pull_flood": 300, "rtsp": False})
        sink = BudgetedSink(Flood(burst=100_000, per_second=10_000))
        async with rig(section, sink=lambda: sink) as r:
            await wait_for(lambda: r.driver.pulls >= 3 and sink.readings)
            assert max(sink.readings) <= 10
            assert r.driver.excess >= 290 * 2
            assert sink.excess >= 290  # charged, with or without events
            assert r.driver.status()["excess_notifications"] == r.driver.excess
    run(scenario())


def test_a_flooding_camera_is_reported_flooding_without_phantom_alarms() -> None:
    async def scenario() -> None:
        section = stanza(simulator={"pull_flood": 1000, "rtsp": False})
        sink = BudgetedSink()
        async with rig(section, sink=lambda: sink) as r:
            await wait_for(lambda: [e for e in sink.emitted if e.type is DEVICE_FLOODING])
            await wait_for(lambda: r.driver.pulls >= 3)
            assert not flood_events(sink)  # not one phantom tamper taken
            assert sink.guard.flooding.get(r.driver.device_id, 0) > 0
    run(scenario())


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_snapshot_is_refused_while_it_streams(declared: bool,
                                                           tmp_path: Path) -> None:
    async def scenario() -> None:
        section = stanza(snapshot={"max_bytes": MiB},
                         simulator={"snapshot_bytes": 64 * MiB, "declare_length": declared,
                                    "rtsp": False})
        section["snapshot"]["source"] = "snapshot_uri"
        async with rig(section, media_dir=tmp_path) as r:
            await subscribed(r.driver)
            with pytest.raises(ActionError) as refused:
                await r.driver.execute("snapshot", {"reason": "test"})
            text = str(refused.value)
            assert f"snapshot.max_bytes {MiB}" in text
            assert ("Content-Length" in text) is declared
            # a snapshot within the cap is taken as before
            r.camera.abuse.snapshot_bytes = 0
            reference = await r.driver.execute("snapshot", {"reason": "test"})
            assert reference["size"] > 0
    run(scenario())


def test_camera_answers_are_parsed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # a spy on zeep's parse of an answer (the library's own code still runs): which thread
    parsed_on: list[int] = []
    original = SoapBinding.process_reply

    def spy(self: Any, client: Any, operation: Any, response: Any) -> Any:
        parsed_on.append(threading.get_ident())
        return original(self, client, operation, response)

    monkeypatch.setattr(SoapBinding, "process_reply", spy)

    async def scenario() -> None:
        loop_thread = threading.get_ident()
        async with rig(stanza(simulator={"pull_flood": 200, "rtsp": False})) as r:
            await wait_for(lambda: r.driver.pulls >= 2)
        assert len(parsed_on) >= 8  # connect, device information, profiles ... and pulls
        assert loop_thread not in parsed_on
    run(scenario())


@pytest.mark.parametrize("challenge", ['Digest foo', 'Digest realm="x, nonce='],
                         ids=["fields-without-values", "unterminated"])
def test_a_malformed_digest_challenge_is_a_failed_snapshot_not_a_crash(challenge: str) -> None:
    """A snapshot URI whose 401 carries a Digest challenge that does not parse: the snapshot
    fails with the reason (the driver then falls back to the stream), and the camera is not
    said to use Digest, since it never authenticated with it."""
    async def scenario() -> None:
        async def camera(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: " + challenge.encode()
                         + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(camera, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = SnapshotClient("cam-1", "admin", timeout=2.0, max_bytes=1 << 20)
        await client.credentials("secret")
        try:
            with pytest.raises(SnapshotFailed, match=r"(?i)digest"):
                await client.fetch(f"http://127.0.0.1:{port}/snapshot.jpg")
            assert client.scheme is None
        finally:
            server.close()
            await client.close()

    asyncio.run(scenario())
