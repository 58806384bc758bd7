"""The simulator on one side, the driver's receiver on the other, over real sockets; the sink
(``decide``, ``report``) is the gateway boundary."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from drivers.http_gate.driver import HttpGateReceiver
from drivers.http_gate.models import HttpGateReceiverConfig
from drivers.http_gate.signing import signed_headers
from drivers.http_gate.webhook import PUSH_PATH as PUSH
from tests.http_gate.support import (
    PUSH_PASSWORD,
    TURNSTILE,
    VEHICLE,
    WEBHOOK_SECRET,
    Rig,
    Sink,
    grant_cards,
    isapi_controller,
    rig,
    run,
    section,
    until,
    webhook_controller,
)


def _verdict(r: Rig, controller: str | None = None) -> object:
    return (r.controller(controller).last_access or {}).get("granted")


def test_isapi_asks_the_gate_opens_on_the_gateways_grant_only() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("asks")), grant_cards("1001")) as r:
            await r.act("present-card", card="1001", reader=1)
            await until(lambda: _verdict(r) is not None, "the remote check answer")
            device = r.controller()
            assert device.last_access and device.last_access["granted"] is True
            assert device.state()["doors"][0]["lock"] == "unlocked"
            (request,) = r.sink.requests
            assert (request.device_id, request.gate, request.direction, request.reader,
                    request.credential) == (VEHICLE, "north-vehicle", "in", "door1-reader1",
                                            "1001")
            assert request.decided_by_device is None

            await r.act("present-card", card="9999", reader=2)
            await until(lambda: _verdict(r) is not None, "the second answer")
            assert device.last_access["granted"] is False
            assert device.last_access["info"] == "unknown_credential"
            assert r.sink.requests[-1].direction == "out"
            assert device.counters.remote_checks == 2
    run(scenario())


def test_isapi_decides_reports_what_it_decided_in_json_and_xml_with_pictures() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            await r.act("enrol", card="1001")
            await r.act("present-card", card="1001")
            await until(lambda: len(r.sink.requests) == 1, "the device's grant")
            await r.act("push-format", format="xml", pictures=True)
            await r.act("present-card", card="2002", reader=2)
            await until(lambda: len(r.sink.requests) == 2, "the device's refusal")
            granted, refused = r.sink.requests
            assert granted.decided_by_device is True
            assert "legal card pass" in granted.device_reason
            assert refused.decided_by_device is False and refused.direction == "out"
            assert "invalid card" in refused.device_reason
            assert r.controller().counters.remote_checks == 0
            assert r.receiver.counts()["refused"] == {}
    run(scenario())


def test_webhook_decides_and_asks_with_signed_answers() -> None:
    async def scenario() -> None:
        stanza = section(webhook_controller("asks"),
                         {**webhook_controller("decides"), "id": "west-turnstile",
                          "identity": {"serial": "WT-1"}})
        async with rig(stanza, grant_cards("555")) as r:
            await r.act("present-card", controller=TURNSTILE, card="555", door=1)
            await until(lambda: _verdict(r, TURNSTILE) is not None, "the signed answer")
            assert r.controller(TURNSTILE).last_access["granted"] is True  # type: ignore[index]
            await r.act("present-card", controller=TURNSTILE, card="556", door=2)
            await until(lambda: _verdict(r, TURNSTILE) is False, "the refusal")
            assert r.controller(TURNSTILE).last_access["reason"] == "unknown_credential"  # type: ignore[index]

            await r.act("present-card", controller="west-turnstile", card="1", door=2)
            await until(lambda: len(r.sink.requests) == 3, "the device-decided request")
            assert r.sink.requests[-1].decided_by_device is False
            assert r.sink.requests[-1].device_id == "west-turnstile"
    run(scenario())


def test_a_wrong_digest_or_signature_is_refused_and_counted_and_the_next_push_goes_in() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            for controller in (VEHICLE, TURNSTILE):
                await r.act("bad-signature", controller=controller)
                await r.act("heartbeat", controller=controller)
                await until(lambda c=controller: r.controller(c).counters.refused == 1,  # type: ignore[misc]
                            f"{controller}'s refusal")
                await r.act("heartbeat", controller=controller)
                await until(lambda c=controller: r.controller(c).counters.accepted == 1,  # type: ignore[misc]
                            f"{controller}'s next heartbeat")
            refused = r.receiver.counts()["refused"]
            assert refused == {"bad_digest": 1, "bad_signature": 1}
            assert r.controller(VEHICLE).counters.statuses[401] == 1
            assert r.sink.online(VEHICLE) == [True] and r.sink.online(TURNSTILE) == [True]
    run(scenario())


def test_unknown_controllers_and_replays_are_refused_and_counted() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            body = b'{"type": "heartbeat"}'
            async with httpx.AsyncClient(base_url=r.url) as client:
                stranger = await client.post("/webhook/events", content=body, headers=(
                    signed_headers("NOT-LISTED", WEBHOOK_SECRET, body, "POST", PUSH)))
                assert stranger.status_code == 403
                intruder = await client.post("/isapi/events", content=b"{}",
                                             auth=httpx.DigestAuth("intruder", PUSH_PASSWORD))
                assert intruder.status_code == 401
                headers = signed_headers("ET-2231-0042", WEBHOOK_SECRET, body, "POST", PUSH)
                first = await client.post("/webhook/events", content=body, headers=headers)
                again = await client.post("/webhook/events", content=body, headers=headers)
                assert (first.status_code, again.status_code) == (200, 401)
                assert "replay" in again.text
            counts = r.receiver.counts()
            assert counts["refused"] == {"unknown_controller": 2, "replayed": 1}
            assert counts["refused_by_sender"]["unknown_controller 127.0.0.1"] == 2
            assert not r.sink.requests and not r.sink.events
    run(scenario())


def test_oversized_and_malformed_bodies_get_a_4xx_and_the_receiver_goes_on() -> None:
    async def scenario() -> None:
        stanza = section(isapi_controller("decides"), webhook_controller(), max_body=4096,
                         max_request=65536)
        async with rig(stanza) as r:
            digest = httpx.DigestAuth("north-vehicle-gate", PUSH_PASSWORD)
            async with httpx.AsyncClient(base_url=r.url) as client:
                big = b'{"type": "heartbeat", "pad": "' + b"x" * 8000 + b'"}'
                oversized = await client.post("/webhook/events", content=big, headers=(
                    signed_headers("ET-2231-0042", WEBHOOK_SECRET, big, "POST", PUSH)))
                assert oversized.status_code == 413
                huge = await client.post("/isapi/events", content=b"x" * 70000, auth=digest)
                assert huge.status_code == 413
                garbage = b"{not json"
                malformed = await client.post("/webhook/events", content=garbage, headers=(
                    signed_headers("ET-2231-0042", WEBHOOK_SECRET, garbage, "POST",
                                   PUSH)))
                assert malformed.status_code == 400 and "not JSON" in malformed.text
                broken = await client.post(
                    "/isapi/events", auth=digest, content=b"--MIME_boundary\r\nnonsense",
                    headers={"Content-Type": "multipart/form-data; boundary=MIME_boundary"})
                assert broken.status_code == 400
                not_isapi = await client.post("/isapi/events", auth=digest,
                                              content=b'{"hello": 1}',
                                              headers={"Content-Type": "application/json"})
                assert not_isapi.status_code == 400 and "eventType" in not_isapi.text
            assert r.receiver.counts()["refused"] == {"oversized": 2, "malformed": 3}
            await r.act("present-card", controller=VEHICLE, card="1")
            await until(lambda: len(r.sink.requests) == 1, "a push after the garbage")
    run(scenario())


def test_door_and_tamper_events_are_reported() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            await r.act("force-door", controller=VEHICLE)
            await r.act("close-door", controller=VEHICLE)
            await r.act("tamper", controller=VEHICLE, reader=2)
            await r.act("tamper-restore", controller=VEHICLE)
            await r.act("hold-door", controller=TURNSTILE, door=2)
            await r.act("close-door", controller=TURNSTILE, door=2)
            await r.act("exit-request", controller=TURNSTILE, door=1)
            await until(lambda: len(r.sink.events) == 7, "seven events")

            def names(device: str) -> list[str]:
                return [e.type.name for e in r.sink.events if e.device_id == device]

            assert names(VEHICLE) == ["campus.door.forced", "campus.door.closed",
                                      "campus.door.secured", "campus.access.reader_tamper",
                                      "campus.access.reader_tamper_restored"]
            # held open is the gateway's own judgement (access.doors held_open_after)
            assert names(TURNSTILE) == ["campus.door.closed", "campus.door.exit_request"]
            (forced,) = r.sink.of("campus.door.forced")
            (secured,) = r.sink.of("campus.door.secured")
            assert forced.subject == "north-barrier" and forced.payload.gate == "north-vehicle"  # type: ignore[attr-defined]
            assert secured.subject == "north-barrier" and secured.payload.ended == "door_forced"  # type: ignore[attr-defined]
            tamper = r.sink.of("campus.access.reader_tamper")[0]
            assert tamper.payload.reader == "door1-reader2"  # type: ignore[attr-defined]
            restored = r.sink.of("campus.access.reader_tamper_restored")[0]
            assert restored.payload.reader == VEHICLE  # type: ignore[attr-defined]
            (exit_request,) = r.sink.of("campus.door.exit_request")
            assert exit_request.subject == "east-lane-in"
    run(scenario())


def test_a_flooding_controller_is_answered_503_and_its_event_comes_again() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            r.sink.refusing = True
            await r.act("force-door")
            await until(lambda: r.controller().counters.retried >= 2, "a retry")
            assert r.sink.events == [] and r.controller().counters.statuses[503] >= 1
            r.sink.refusing = False
            await until(lambda: r.sink.events, "the event, sent again")
            assert [e.type.name for e in r.sink.events] == ["campus.door.forced"]
    run(scenario())


def test_a_repeated_push_is_answered_but_decided_once() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            alert = {"macAddress": "c0:6d:ed:02:d3:d9", "dateTime": "2026-11-03T07:58:12+08:00",
                     "eventType": "AccessControllerEvent",
                     "AccessControllerEvent": {"majorEventType": 5, "subEventType": 1,
                                               "cardNo": "42", "doorNo": 1, "cardReaderNo": 1,
                                               "serialNo": 7}}
            digest = httpx.DigestAuth("north-vehicle-gate", PUSH_PASSWORD)
            async with httpx.AsyncClient(base_url=r.url, auth=digest) as client:
                for _ in range(2):
                    answer = await client.post("/isapi/events", json=alert)
                    assert answer.status_code == 200 and b"<statusCode>1<" in answer.content
                wrong_mac = {**alert, "macAddress": "02:00:00:00:00:01"}
                assert (await client.post("/isapi/events", json=wrong_mac)).status_code == 403
            assert len(r.sink.requests) == 1
            assert r.receiver.counts()["refused"] == {"wrong_identity": 1}
    run(scenario())


def test_open_and_gate_mode_go_through_the_vendor_channel() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            opened = await r.receiver.execute("open", {"gate": "north-vehicle"})
            assert opened["confirmed"] and opened["confirmed_by"] == "answer"
            assert opened["error"] == "" and opened["mode"] == "normal"
            assert r.controller(VEHICLE).doors[1].opens == 1

            locked = await r.receiver.execute("gate_mode", {"gate": "north-vehicle",
                                                            "mode": "locked"})
            assert locked == {**locked, "gate": "north-vehicle", "mode": "locked",
                              "confirmed": True, "error": "", "confirmed_by": "read_back"}
            assert r.controller(VEHICLE).doors[1].mode == "locked"
            normal = await r.receiver.execute("gate_mode", {"gate": "north-vehicle",
                                                            "mode": "normal"})
            assert normal["confirmed"] and r.controller(VEHICLE).doors[1].mode == "normal"

            free = await r.receiver.execute("gate_mode", {"gate": "east-pedestrian",
                                                          "mode": "free"})
            assert free["confirmed"] and free["confirmed_by"] == "read_back"
            assert [d["door"] for d in free["doors"]] == [1, 2]
            assert {d.mode for d in r.controller(TURNSTILE).doors.values()} == {"free"}
            webhook_open = await r.receiver.execute("open", {"gate": "east-pedestrian"})
            assert webhook_open["confirmed"] and webhook_open["mode"] == "free"

            await r.act("offline", controller=VEHICLE)
            unreachable = await r.receiver.execute("open", {"gate": "north-vehicle"})
            assert not unreachable["confirmed"] and unreachable["error"]
    run(scenario())


def test_heartbeats_keep_a_controller_online_and_silence_takes_it_offline() -> None:
    async def scenario() -> None:
        stanza = section(isapi_controller("decides"), heartbeat_timeout="1s")
        async with rig(stanza, heartbeat_interval=0.2) as r:
            await until(lambda: r.sink.online(VEHICLE) == [True], "online from heartbeats")
            await until(lambda: r.controller().counters.heartbeats >= 3, "heartbeats")
            assert r.sink.online(VEHICLE) == [True]
            await r.act("offline")
            await until(lambda: r.sink.online(VEHICLE) == [True, False], "offline", 10)
            await r.act("online")
            await until(lambda: r.sink.online(VEHICLE) == [True, False, True], "online again")
    run(scenario())


def test_a_controller_heard_at_once_is_online_and_one_never_heard_is_offline_in_time() -> None:
    """A controller announces itself with a heartbeat when its push link comes up; one that
    never pushes after the gateway starts is reported offline once its timeout has passed
    (before, nothing was ever said of it)."""
    async def scenario() -> None:
        stanza = section(isapi_controller("decides"), heartbeat_timeout="1s")
        async with rig(stanza) as r:  # heartbeats every hour: the first one comes at once
            await until(lambda: r.sink.online(VEHICLE) == [True], "online from the start")
        config = HttpGateReceiverConfig.model_validate(
            section(webhook_controller(), heartbeat_timeout="1s"))
        sink = Sink(grant_cards())
        receiver = asyncio.create_task(HttpGateReceiver(config, sink).run())  # no controller
        try:
            await until(lambda: sink.online(TURNSTILE) == [False], "offline in time", 10)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
        (reason,) = [why for _, _, why in sink.availability_reports]
        assert reason == "no request since the gateway started (1 s)"
    run(scenario())


def test_events_kept_while_the_gateway_was_away_arrive_in_order() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            await r.act("offline")
            await r.act("present-card", card="1")
            await r.act("present-card", card="2")
            assert r.controller().state()["queued"] == 2
            await r.act("online")
            await until(lambda: len(r.sink.requests) == 2, "both credentials")
            assert [q.credential for q in r.sink.requests] == ["1", "2"]
    run(scenario())


def test_the_state_a_tester_sees() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            state = await r.fleet.state()
            (controller,) = state["controllers"]
            assert state["driver"] == "http_gate" and "present-card" in state["actions"]
            assert controller["doors"] == [{"door": 1, "mode": "normal", "contact": "closed",
                                            "lock": "locked", "remote_opens": 0}]
            assert json.dumps(state)  # JSON-ready for GET /devices/<id>
    run(scenario())


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    """A controller without push_auth is known by its address: a sender on the gateway's own
    host must not become it by naming that address in X-Forwarded-For (uvicorn's default)."""
    anonymous = isapi_controller("decides", push_auth=None,
                                 identity={"mac": "c0:6d:ed:02:d3:da", "peer": "10.20.30.40"})
    claimed = {"X-Forwarded-For": "10.20.30.40", "Content-Type": "application/json"}

    async def scenario(trusted: list[str]) -> int:
        async with rig(section(anonymous, trusted_proxies=trusted)) as r:
            async with httpx.AsyncClient(base_url=r.url) as client:
                answer = await client.post("/isapi/events", content=b'{"hello": 1}',
                                           headers=claimed)
            return answer.status_code

    assert run(scenario([])) == 401  # not believed: an unknown sender, asked to authenticate
    assert run(scenario(["127.0.0.1"])) == 400  # the proxy's word: the controller, bad body
