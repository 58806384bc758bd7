"""The committed contract documents are exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from gateway.contract import asyncapi, event_schema, render
from gateway.kernel.events import CATALOGUE, PANIC_PRESSED, Event, PointFact, Severity
from gateway.publisher import envelope

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract"


def test_committed_contract_is_current() -> None:
    expected = render()
    on_disk = {str(p.relative_to(CONTRACT)): p.read_text() for p in CONTRACT.rglob("*")
               if p.is_file()}
    stale = sorted(k for k in expected if on_disk.get(k) != expected[k])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"run `make contract` and commit: stale {stale}, no longer generated {extra}")


def test_every_event_type_has_a_schema_and_a_message() -> None:
    doc = asyncapi()
    assert set(CATALOGUE) <= set(doc["components"]["messages"])
    for name in CATALOGUE:
        jsonschema.Draft202012Validator.check_schema(event_schema(CATALOGUE[name]))
    yaml.safe_load(render()["asyncapi.yaml"])


def test_an_envelope_validates_and_a_wrong_one_does_not() -> None:
    event = Event(PANIC_PRESSED, "m1", PointFact(point="b1", zone="gate"), Severity.CRITICAL, "b1")
    body = {**envelope(event, site="s1", gateway="gw1", drill=False), "seqno": 1}
    schema = event_schema(PANIC_PRESSED)
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    assert body["source"] == "/campus/s1/gateway/gw1/device/m1"
    broken = {**body, "data": {**body["data"], "zone": 7}}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
