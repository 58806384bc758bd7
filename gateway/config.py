"""Site configuration: one YAML file per campus, validated by pydantic.

Every model forbids unknown keys. Errors are reported as ``file: path.inside.yaml: message`` so an
installer can find the line to fix. Driver sections are chosen by their ``driver:`` key; the models
live with the drivers (see ``drivers.DRIVERS``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from drivers import DRIVERS, DeviceConfig
from gateway.fields import Identifier, Seconds, Strict, validation_problems


class Secret(Strict):
    """A secret is never written in the site file: it is read from the environment or a file."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from exc


class Site(Strict):
    id: Identifier
    name: str = ""


class GatewayIdentity(Strict):
    id: Identifier = "gw1"
    state_dir: Path = Path("var")
    stats_interval: Seconds = 60.0


class Tls(Strict):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


class Mqtt(Strict):
    url: str = "mqtt://127.0.0.1:1883"
    prefix: Identifier = "campus"
    protocol: Literal["3.1.1", "5"] = "5"
    client_id: str | None = None
    username: str | None = None
    password: Secret | None = None
    tls: Tls | None = None
    keepalive: Seconds = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", value):
            raise ValueError("expected mqtt://host:port or mqtts://host:port")
        return value


class Outbox(Strict):
    max_age: Seconds = 7 * 86400.0
    max_events: int = Field(default=1_000_000, ge=1000)
    replay_rate: float = Field(default=5000.0, gt=0, description="events/s replaying a backlog")
    synchronous: Literal["normal", "full"] = "full"


class Alarms(Strict):
    escalate_after: Seconds = 60.0
    siren_off_on: Literal["acknowledge", "reset"] = "acknowledge"
    first_report_within: Seconds = 20 * 60.0
    written_report_within: Seconds = 40 * 60.0
    general_report_within: Seconds = 60 * 60.0


class Flood(Strict):
    """When one device reports more condition changes than a real one could, it is flooding."""

    burst: int = Field(default=500, ge=10, le=100_000,
                       description="condition changes a device may report at once")
    per_second: float = Field(default=10.0, gt=0, le=10_000, description="and then per second")
    ends_after: Seconds = Field(default=60.0, gt=0,
                                description="no report held back for this long: flood over")


class Rate(Strict):
    burst: int = Field(default=20, ge=1, le=10_000)
    per_second: float = Field(default=2.0, gt=0, le=10_000)


class Commands(Strict):
    """How requests are queued, limited and checked for replay."""

    queue: int = Field(default=64, ge=1, le=10_000, description="requests waiting; more: busy")
    workers: int = Field(default=4, ge=1, le=64, description="requests carried out at once")
    per_operator: Rate = Rate()
    refusals_recorded_per_minute: int = Field(
        default=60, ge=1, le=100_000,
        description="refused requests written to the audit log one by one; beyond: counted")
    clock_skew: Seconds = Field(default=30.0, le=3600,
                                description="how far a sender's clock may be off ours")
    max_validity: Seconds = Field(default=300.0, gt=0, le=3600,
                                  description="longest issued_at..expires_at accepted")
    response_topics: list[str] = Field(
        default=[], description="topic prefixes MQTT 5 answers may go to besides our own")


class Operator(Strict):
    """A person allowed to send commands. Only a SHA-256 of the token is kept in the site file."""

    name: Identifier
    role: Literal["viewer", "guard", "supervisor"]
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class LinkageTrigger(Strict):
    conditions: list[str] = Field(default=["fire"], min_length=1,
                                  description="alarm conditions that fire the rule")
    zones: list[Identifier] = Field(default=[], description="only alarms in these zones (or all)")


class LinkageAction(Strict):
    device: Identifier
    output: Identifier
    set: bool = Field(default=True, description="true energises the output, false releases it")


class LinkageRule(Strict):
    """When an alarm of these conditions is raised in these zones, drive these outputs.

    Fire linkage is a secondary action: egress doors must be released by the fire system itself
    (NFPA 72 21.9 / GB 50116); the gateway's release adds to it and reports what it did.
    """

    name: Identifier
    when: LinkageTrigger = LinkageTrigger()
    do: list[LinkageAction] = Field(min_length=1)


class SiteConfig(Strict):
    site: Site
    gateway: GatewayIdentity = GatewayIdentity()
    mqtt: Mqtt = Mqtt()
    outbox: Outbox = Outbox()
    alarms: Alarms = Alarms()
    flood: Flood = Flood()
    commands: Commands = Commands()
    operators: list[Operator] = []
    devices: list[DeviceConfig] = []
    linkage: list[LinkageRule] = []

    @model_validator(mode="after")
    def _unique(self) -> SiteConfig:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, device in enumerate(self.devices):
            if device.id in seen:
                problems.append(
                    f"devices[{index}].id: duplicate device id {device.id!r}"
                    f" (also devices[{seen[device.id]}])"
                )
            seen.setdefault(device.id, index)
        endpoints: dict[str, str] = {}
        for device in self.devices:
            for endpoint in device.endpoints():
                if endpoint in endpoints and endpoints[endpoint] != device.id:
                    problems.append(
                        f"devices: {device.id!r} and {endpoints[endpoint]!r} both use {endpoint}"
                    )
                endpoints.setdefault(endpoint, device.id)
        names = [op.name for op in self.operators]
        for name in {n for n in names if names.count(n) > 1}:
            problems.append(f"operators: duplicate operator {name!r}")
        by_id = {d.id: d for d in self.devices}
        for index, rule in enumerate(self.linkage):
            for n, action in enumerate(rule.do):
                target = by_id.get(action.device)
                outputs = [o.name for o in getattr(target, "outputs", [])]
                if target is None:
                    problems.append(f"linkage[{index}].do[{n}].device: no device {action.device!r}")
                elif action.output not in outputs:
                    problems.append(f"linkage[{index}].do[{n}].output: device {action.device!r} "
                                    f"has no output {action.output!r} (has {outputs})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def device(self, device_id: str) -> DeviceConfig:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise KeyError(device_id)


class ConfigError(Exception):
    """A site file that cannot be used; the message names file, path and what was expected."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file, or raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping with site, mqtt, devices ...")
    try:
        return SiteConfig.model_validate(raw, context={"base_dir": path.parent})
    except ValidationError as exc:
        problems = validation_problems(path, exc, skip=frozenset(DRIVERS))
        raise ConfigError("\n".join(problems), problems) from None
