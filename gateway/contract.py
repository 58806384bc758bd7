"""The published contract, generated from the code: a JSON Schema per event type and per
retained/command document, and an AsyncAPI 3.0 document of the whole MQTT surface.

`campus-gateway contract --out docs/contract` writes them; a test proves the committed copies
match what this module generates, so the documents cannot drift from what is published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gateway.alarms import REFUSAL_REASONS
from gateway.command_table import COMMANDS
from gateway.commands import ERROR_CODES, RequestBody
from gateway.kernel.events import CATALOGUE, AlarmSnapshot, EventType, Severity
from gateway.topics import CONTRACT_VERSION

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _payload_schema(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.pop("$defs", {})
    return schema, defs


def event_schema(event_type: EventType) -> dict[str, Any]:
    data, defs = _payload_schema(event_type.payload)
    return {
        "$schema": DRAFT,
        "$id": f"urn:campus-gateway:contract:{CONTRACT_VERSION}:{event_type.name}",
        "title": event_type.name,
        "description": event_type.summary,
        "type": "object",
        "additionalProperties": False,
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "site",
                     "gateway", "device", "severity", "drill", "seqno", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid",
                   "description": "UUIDv7: unique and ordered by time"},
            "source": {"type": "string", "pattern": "^/campus/[^/]+/gateway/[^/]+/device/[^/]+$"},
            "type": {"const": event_type.name},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string", "description": "point or alarm the event is about"},
            "datacontenttype": {"const": "application/json"},
            "site": {"type": "string"},
            "gateway": {"type": "string"},
            "device": {"type": "string"},
            "severity": {"enum": [s.value for s in Severity]},
            "drill": {"type": "boolean", "description": "true for everything during a drill"},
            "durable": {"const": False, "description": "present (false) only on events sent "
                        "while the gateway's disk refused writes: not stored, so lost if the "
                        "gateway stops before the broker has them"},
            "devicetime": {"type": "string", "format": "date-time",
                           "description": "present only when the device's own time was "
                           "outside the sane window around the gateway's clock "
                           "(intake.device_time_past/future): what the device said; time is "
                           "then when the gateway received it"},
            "truncated": {"type": "string", "description": "present only when the intake cut "
                          "payload fields to the event's bounds: their names, comma-separated"},
            "seqno": {"type": "integer", "minimum": 1,
                      "description": "per-gateway sequence number: increases by one per event"},
            "data": data,
        },
        "$defs": defs,
    }


def document_schemas() -> dict[str, dict[str, Any]]:
    """Schemas of the non-event documents: retained states, commands and their answers."""
    alarm, alarm_defs = _payload_schema(AlarmSnapshot)
    return {
        "alarm-state": {"$schema": DRAFT, "title": "current alarm state (retained)",
                        **alarm, "$defs": alarm_defs},
        "gateway-status": {
            "$schema": DRAFT, "title": "gateway status (retained; last will sets online false)",
            "type": "object", "required": ["online", "gateway", "site", "contract"],
            "properties": {"online": {"type": "boolean"}, "gateway": {"type": "string"},
                           "site": {"type": "string"}, "contract": {"type": "string"},
                           "reason": {"type": "string"},
                           "storage": {"type": "string", "description": "why the gateway "
                                       "cannot store events on its disk now; absent if it can"},
                           "access": {
                               "type": "object", "description": "access control: the "
                               "credential list version held (a site behind the centre's "
                               "shows it here), lockdown, fire release",
                               "properties": {
                                   "credentials_version": {"type": "integer"},
                                   "persons": {"type": "integer"},
                                   "credentials": {"type": "integer"},
                                   "lockdown": {"type": "boolean"},
                                   "fire_release": {"type": "boolean"},
                                   "on_campus": {"type": "integer"}}},
                           "broker": {
                               "type": "object", "description": "the broker node the gateway "
                               "is on (host:port), how many the site lists, how often it moved "
                               "to another since start",
                               "properties": {"node": {"type": "string"},
                                              "nodes": {"type": "integer"},
                                              "moves": {"type": "integer"}}},
                           "parts": {"type": "object", "description": "the gateway's supervised "
                                     "parts and their health (state, failures, last failure)"},
                           "alarm_paths": {
                               "type": "object", "description": "with an alarm_centre: which of "
                               "the two alarm paths are up",
                               "properties": {"mqtt": {"type": "boolean"},
                                              "alarm_centre": {"type": "boolean"}}},
                           "alarm_centre": {"type": "object", "description": "with an "
                                            "alarm_centre: its receivers, where alarms go, what "
                                            "waits for an acknowledgement, the clock offset"}},
        },
        "device-availability": {
            "$schema": DRAFT, "title": "device availability (retained)", "type": "object",
            "required": ["device", "online", "reason", "since"],
            "properties": {"device": {"type": "string"}, "online": {"type": "boolean"},
                           "reason": {"type": "string"},
                           "since": {"type": "string", "format": "date-time"}},
        },
        "command-request": {"$schema": DRAFT, "title": "command request",
                            **RequestBody.model_json_schema()},
        **{f"command-args.{name}": {"$schema": DRAFT, "title": f"args of {name}: {spec.summary}",
                                    **spec.args.model_json_schema()}
           for name, spec in COMMANDS.items() if spec.args is not None},
        "command-response": {
            "$schema": DRAFT, "title": "command response", "type": "object",
            "required": ["correlation_id", "status", "data", "error"],
            "properties": {
                "correlation_id": {"type": "string"},
                "status": {"enum": ["ok", "error"]},
                "data": {},
                "error": {"oneOf": [{"type": "null"}, {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"enum": list(ERROR_CODES)},
                                   "message": {"type": "string"},
                                   "reason": {"enum": list(REFUSAL_REASONS), "description":
                                              "with code refused: what about, for a console "
                                              "to say it in its operator's language"}}}]},
            },
        },
    }


def asyncapi() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for name, event_type in CATALOGUE.items():
        messages[name] = {
            "name": name, "title": name, "summary": event_type.summary,
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"schemas/{name}.json"},
        }
    for name in document_schemas():
        messages[name] = {"name": name, "contentType": "application/json",
                          "payload": {"$ref": f"schemas/{name}.json"}}
    params = {"prefix": {"description": "topic prefix, default campus"},
              "site": {"description": "site (campus) id"},
              "gateway": {"description": "gateway id"},
              "device": {"description": "device id"},
              "category": {"description": "event category: " + ", ".join(
                  sorted({t.category for t in CATALOGUE.values()}))},
              "alarm": {"description": "alarm id"},
              "command": {"description": ", ".join(COMMANDS)}}

    def channel(address: str, description: str, refs: list[str]) -> dict[str, Any]:
        used = [p for p in params if "{" + p + "}" in address]
        return {"address": address, "description": description,
                "parameters": {p: dict(params[p]) for p in used},
                "messages": {r.replace(".", "_"): {"$ref": f"#/components/messages/{r}"}
                             for r in refs}}

    channels = {
        "events": channel("{prefix}/{site}/event/{category}/{device}",
                          "Every event, QoS 1, CloudEvents 1.0 structured JSON.",
                          list(CATALOGUE)),
        "alarm": channel("{prefix}/{site}/alarm/{alarm}",
                         "Retained current state of an open alarm; an empty retained message "
                         "clears it when the alarm closes.", ["alarm-state"]),
        "status": channel("{prefix}/{site}/gateway/{gateway}/status",
                          "Retained; the last will publishes online=false.", ["gateway-status"]),
        "availability": channel("{prefix}/{site}/device/{device}/availability",
                                "Retained device availability.", ["device-availability"]),
        "media": {"address": "{prefix}/{site}/media/{device}/{media}",
                  "description": "A snapshot's JPEG bytes (QoS 0, not retained), only where the "
                                 "site sets media.publish_bytes; the campus.camera.snapshot "
                                 "event is the reference (id, URL, sha256, size).",
                  "parameters": {"prefix": dict(params["prefix"]), "site": dict(params["site"]),
                                 "device": {"description": "camera id"},
                                 "media": {"description": "media id"}},
                  "messages": {"snapshot_jpeg": {"name": "snapshot-jpeg",
                                                 "contentType": "image/jpeg",
                                                 "payload": {"type": "string",
                                                             "format": "binary"}}}},
        "request": channel("{prefix}/{site}/gateway/{gateway}/request/{command}",
                           "Commands to the gateway (never retained).", ["command-request"]),
        "response": channel("{prefix}/{site}/gateway/{gateway}/response/{command}",
                            "Answers, with the request's correlation id (and MQTT 5 "
                            "correlation data / response topic when used).",
                            ["command-response"]),
    }
    operations = {
        "receiveEvents": {"action": "receive", "channel": {"$ref": "#/channels/events"}},
        "receiveAlarmState": {"action": "receive", "channel": {"$ref": "#/channels/alarm"}},
        "receiveStatus": {"action": "receive", "channel": {"$ref": "#/channels/status"}},
        "receiveAvailability": {"action": "receive",
                                "channel": {"$ref": "#/channels/availability"}},
        "receiveMedia": {"action": "receive", "channel": {"$ref": "#/channels/media"}},
        "sendCommand": {"action": "send", "channel": {"$ref": "#/channels/request"},
                        "reply": {"channel": {"$ref": "#/channels/response"}}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Campus security gateway MQTT contract", "version": CONTRACT_VERSION,
                 "description": "What a campus gateway publishes and accepts. Payloads are JSON; "
                                "events are CloudEvents 1.0. Works on MQTT 3.1.1 and 5."},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """Relative path -> file text, for everything in the contract folder."""
    files: dict[str, str] = {}
    for name, event_type in CATALOGUE.items():
        files[f"schemas/{name}.json"] = json.dumps(event_schema(event_type), indent=2) + "\n"
    for name, schema in document_schemas().items():
        files[f"schemas/{name}.json"] = json.dumps(schema, indent=2) + "\n"
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, width=100)
    return files


def write_contract(out: Path) -> list[Path]:
    written = []
    for relative, text in render().items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
