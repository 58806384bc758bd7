"""Timed scenarios: a YAML list of steps played against the control API of a running campus.

A step names a time (seconds from the start, or a duration such as ``"500ms"``) and either a
device, an action and its arguments (played on the simulators), or a gateway ``command`` and its
arguments (sent over MQTT like the central platform would: starting a drill, acknowledging an
alarm). In command arguments ``$last_alarm`` stands for the newest open alarm; in any arguments
``$last_pass`` stands for the pass code of the visit the scenario registered last, and
``$now+2m`` for that time from the moment the step is played (ISO 8601). A step with
``repeat: N`` is played N times, ``every`` apart; an argument ``"{n}"`` counts from ``first``
(a morning's cards, one after the other). Scenarios are
checked completely before anything is played: the file against the schema, then every device and
action against what the running campus offers, so a typo in step 7 does not leave the campus half
way through a drill.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from gateway.kernel.documents import DocumentError, read_yaml
from gateway.kernel.fields import Identifier, Seconds, Strict, parse_duration, validation_problems
from simulators.control_client import ControlClient, ControlError


class ScenarioError(Exception):
    """A scenario that cannot be played; ``problems`` lists each one with file and step."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


LAST_ALARM = "$last_alarm"
LAST_PASS = "$last_pass"
NOW = "$now"

# A gateway command: (name, args) -> the response's data; raises ScenarioError when refused.
Commander = Callable[[str, dict[str, Any]], Awaitable[Any]]


class Step(Strict):
    at: Seconds
    device: Identifier | None = None
    action: Identifier | None = None
    command: str | None = Field(default=None, pattern=r"^[a-z]+\.[a-z_]+$")
    args: dict[str, Any] = Field(default_factory=dict)
    repeat: int = Field(default=1, ge=1, le=100_000, description="play the step this often")
    every: Seconds = Field(default=1.0, description="apart, when repeated")
    first: int = Field(default=0, description="where {n} in the arguments starts")

    def times(self) -> list[tuple[float, dict[str, Any]]]:
        """When this step is played and with which arguments (each repetition)."""
        out = []
        for i in range(self.repeat):
            n = self.first + i
            args = {k: (n if v == "{n}" else v.replace("{n}", str(n)))
                    if isinstance(v, str) else v for k, v in self.args.items()}
            out.append((self.at + i * self.every, args))
        return out

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if self.command is None and (self.device is None or self.action is None):
            raise ValueError("a step needs device and action, or command")
        if self.command is not None and (self.device is not None or self.action is not None):
            raise ValueError("a step has either device and action, or command, not both")
        return self

    def describe(self) -> str:
        args = " ".join(
            f"{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in self.args.items()
        )
        what = f"gateway {self.command}" if self.command else f"{self.device} {self.action}"
        return what + (f" {args}" if args else "")


class Scenario(Strict):
    name: str = ""
    description: str = ""
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_time_order(self) -> Scenario:
        for index in range(1, len(self.steps)):
            if self.steps[index].at < self.steps[index - 1].at:
                raise ValueError(
                    f"steps[{index}].at: {self.steps[index].at:g}s is earlier than"
                    f" steps[{index - 1}] ({self.steps[index - 1].at:g}s); keep steps in time order"
                )
        return self


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on: true`` must stay the argument ``on``, not the key ``True``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file, or raise ScenarioError naming file and step index."""
    path = Path(path)
    try:
        raw = read_yaml(path, loader=_Loader).data
    except DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: (top level): expected a mapping with steps: [...]")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(path, exc)
        raise ScenarioError("\n".join(problems), problems) from None


async def check_against(scenario: Scenario, client: ControlClient, source: str) -> None:
    """Every step names a device the campus has and an action that device knows."""
    devices = {d["id"]: d for d in await client.devices()}
    problems: list[str] = []
    for index, step in enumerate(scenario.steps):
        if step.command is not None or step.device is None:
            continue
        device = devices.get(step.device)
        if device is None:
            problems.append(
                f"{source}: steps[{index}].device: no device {step.device!r} in the running"
                f" campus (devices: {', '.join(devices)})"
            )
        elif step.action not in device.get("actions", [step.action]):
            problems.append(
                f"{source}: steps[{index}].action: {step.device} has no action {step.action!r}"
                f" (actions: {', '.join(device['actions'])})"
            )
    if problems:
        raise ScenarioError("\n".join(problems), problems)


async def play(
    scenario: Scenario,
    client: ControlClient,
    *,
    source: str = "scenario",
    speed: float = 1.0,
    echo: Callable[[str], None] = print,
    commander: Commander | None = None,
) -> list[Any]:
    """Play every step at its time (divided by ``speed``); stop at the first refused step."""
    if commander is None and any(step.command for step in scenario.steps):
        raise ScenarioError(
            f"{source}: this scenario sends gateway commands: give --broker and -c SITE.yaml, "
            "and the operator in CAMPUS_OPERATOR and CAMPUS_OPERATOR_TOKEN")
    await check_against(scenario, client, source)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results: list[Any] = []
    last_pass: str | None = None
    timeline = sorted(((at, index, args) for index, step in enumerate(scenario.steps)
                       for at, args in step.times()), key=lambda entry: entry[:2])
    for at, index, args in timeline:
        step = scenario.steps[index]
        await asyncio.sleep(max(0.0, started + at / speed - loop.time()))
        args = {k: _relative_time(v) for k, v in args.items()}
        if LAST_PASS in args.values():
            if last_pass is None:
                raise ScenarioError(f"{source}: steps[{index}]: {LAST_PASS} given but no "
                                    "visitor.add came before it")
            args = {k: last_pass if v == LAST_PASS else v for k, v in args.items()}
        shown = step.model_copy(update={"args": args})
        prefix = f"[{loop.time() - started:8.3f}s] step {index}: {shown.describe()}"
        try:
            if step.command is not None and commander is not None:
                result = await _command(commander, step.command, args)
                if step.command == "visitor.add" and isinstance(result, dict):
                    last_pass = str(result.get("pass_code"))
            else:
                assert step.device is not None and step.action is not None
                result = await client.act(step.device, step.action, args)
            results.append(result)
        except (ControlError, ScenarioError) as exc:
            echo(f"{prefix} -> FAILED")
            raise ScenarioError(f"{source}: steps[{index}]: {exc}") from None
        if step.repeat == 1 or len(results) % 50 == 0:
            echo(f"{prefix} -> ok")
    return results


def _relative_time(value: Any) -> Any:
    """``$now``, ``$now+2m``, ``$now-1h`` -> that time as ISO 8601; anything else as it is."""
    if not isinstance(value, str) or not value.startswith(NOW):
        return value
    rest = value[len(NOW):]
    sign = -1.0 if rest.startswith("-") else 1.0
    seconds = parse_duration(rest[1:]) if rest else 0.0
    return (datetime.now(UTC) + timedelta(seconds=sign * seconds)).isoformat()


async def _command(commander: Commander, name: str, args: dict[str, Any]) -> Any:
    if LAST_ALARM in args.values():
        open_alarms = await commander("alarm.list", {})
        if not open_alarms:
            raise ScenarioError(f"{name}: {LAST_ALARM} given but no alarm is open")
        newest = max(open_alarms, key=lambda a: a["raised_at"])["alarm_id"]
        args = {k: newest if v == LAST_ALARM else v for k, v in args.items()}
    return await commander(name, args)
