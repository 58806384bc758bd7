"""Site configuration: one YAML file per campus, validated by pydantic.

Every model forbids unknown keys. Errors are reported as ``file: path.inside.yaml: message`` so an
installer can find the line to fix. Driver sections are chosen by their ``driver:`` key; the models
live with the drivers (see ``drivers.DRIVERS``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    Field,
    IPvAnyNetwork,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from drivers import DRIVERS, DeviceConfig
from gateway.access.config import Access
from gateway.alarm_centre.config import AlarmCentre
from gateway.instructions import Instruction, instruction_problems
from gateway.kernel.documents import DocumentError, read_yaml
from gateway.kernel.fields import (
    ConfigError,
    Identifier,
    Seconds,
    Secret,
    Strict,
    TimeZone,
)
from gateway.media.config import Media
from gateway.site_problems import every_problem


class Site(Strict):
    id: Identifier
    name: str = ""
    timezone: TimeZone = Field(default="Asia/Shanghai",
                               description="the site's time zone (IANA name), for screens")


class GatewayIdentity(Strict):
    id: Identifier = "gw1"
    state_dir: Path = Path("var")
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line, for journald or a shipper")
    stats_interval: Seconds = Field(default=60.0, ge=1, le=86400)


class Tls(Strict):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


class Mqtt(Strict):
    url: str | list[str] = Field(
        default="mqtt://127.0.0.1:1883",
        description="the broker, or a list: the nodes of a broker cluster (or a primary and a "
                    "backup broker); the gateway connects to the first that answers and moves "
                    "to the next when its node goes away")
    prefix: Identifier = "campus"
    protocol: Literal["3.1.1", "5"] = "5"
    client_id: str | None = None
    username: str | None = None
    password: Secret | None = None
    tls: Tls | None = None
    keepalive: Seconds = Field(default=15.0, ge=5, le=3600,
                               description="MQTT keepalive: a silent link is dropped after 1.5x")
    in_flight: int | None = Field(
        default=None, ge=1, le=1000,
        description="events handed to the broker and not yet acknowledged, at most (default: "
                    "1000 handed to the MQTT client, 20 of them on the wire). 1 keeps each "
                    "device's order on a broker that can acknowledge a later message and lose "
                    "an earlier one of the same connection (a NATS JetStream cluster while its "
                    "store elects a new leader), at one event per round trip to the broker")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | list[str]) -> str | list[str]:
        urls = [value] if isinstance(value, str) else value
        if not 1 <= len(urls) <= 16:
            raise ValueError("give 1 to 16 broker URLs")
        for url in urls:
            match = re.match(r"^mqtts?://[^/:]+(?::(\d+))?/?$", url)
            if not match:
                raise ValueError(f"{url!r}: expected mqtt://host:port or mqtts://host:port")
            if match.group(1) is not None and not 1 <= int(match.group(1)) <= 65535:
                raise ValueError(f"{url!r}: port {match.group(1)} is not 1 to 65535")
        if len({url.partition(":")[0] for url in urls}) > 1:
            raise ValueError("the broker URLs mix mqtt:// and mqtts://: one link has one TLS "
                             "setting")
        if len(set(urls)) != len(urls):
            raise ValueError("a broker URL is listed twice")
        return value

    @property
    def urls(self) -> list[str]:
        """The broker URLs in the order they are tried."""
        return [self.url] if isinstance(self.url, str) else list(self.url)


class Outbox(Strict):
    max_age: Seconds = Field(default=7 * 86400.0, ge=60, le=366 * 86400)
    max_events: int = Field(default=1_000_000, ge=1000)
    replay_rate: float = Field(default=5000.0, gt=0, description="events/s replaying a backlog")
    synchronous: Literal["normal", "full"] = "full"
    max_message: int = Field(
        default=256 * 1024, ge=16 * 1024, le=256 * 1024 * 1024,
        description="bytes; a message over this is never handed to MQTT: it is set aside "
                    "(gateway.message_set_aside) and its lane goes on")


class Alarms(Strict):
    escalate_after: Seconds = Field(default=60.0, ge=1, le=86400)
    siren_off_on: Literal["acknowledge", "reset"] = "acknowledge"
    first_report_within: Seconds = Field(default=20 * 60.0, ge=1, le=7 * 86400)
    written_report_within: Seconds = Field(default=40 * 60.0, ge=1, le=7 * 86400)
    general_report_within: Seconds = Field(default=60 * 60.0, ge=1, le=7 * 86400)
    history_kept: Seconds = Field(
        default=30 * 86400.0, ge=3600, le=366 * 86400,
        description="how long closed alarms stay searchable in the console's alarm history")


class Flood(Strict):
    """When one device reports more condition changes than a real one could, it is flooding."""

    burst: int = Field(default=500, ge=10, le=100_000,
                       description="condition changes a device may report at once")
    per_second: float = Field(default=10.0, gt=0, le=10_000, description="and then per second")
    ends_after: Seconds = Field(default=60.0, gt=0,
                                description="no report held back for this long: flood over")


class Intake(Strict):
    """What the gateway takes from a device as it comes, and what it corrects (docs: intake)."""

    device_time_past: Seconds = Field(
        default=3600.0, ge=60, le=7 * 86400,
        description="a device time older than this is replaced by the receipt time (flagged)")
    device_time_future: Seconds = Field(
        default=300.0, ge=1, le=86400,
        description="a device time ahead of the gateway's clock by more than this is too")
    repeat_window: Seconds = Field(
        default=600.0, ge=10, le=86400,
        description="how long a reading's identity is kept, so a device's retry of it is "
                    "recognised and makes no new event")


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


Role = Literal["viewer", "guard", "supervisor"]
# Each role may do what the roles before it may: viewer < guard < supervisor.
ROLES: dict[str, int] = {name: rank for rank, name in enumerate(get_args(Role))}


class Operator(Strict):
    """A person allowed to send commands. Only a SHA-256 of the token is kept in the site file."""

    name: Identifier
    role: Role
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class LinkageTrigger(Strict):
    conditions: list[str] = Field(default=["fire"], min_length=1,
                                  description="alarm conditions that fire the rule")
    zones: list[Identifier] = Field(default=[], description="only alarms in these zones (or all)")


class ClipRequest(Strict):
    pre: Seconds = Field(default=10.0, le=120, description="seconds before the alarm")
    post: Seconds = Field(default=20.0, le=300, description="seconds after it")


class LinkageAction(Strict):
    """One thing a rule does: drive an output (``device`` + ``output``), or act on a camera
    (``camera`` + one of ``snapshot``, ``ptz_preset``, ``clip``)."""

    device: Identifier | None = None
    output: Identifier | None = None
    set: bool = Field(default=True, description="true energises the output, false releases it")
    camera: Identifier | None = None
    snapshot: bool = Field(default=False, description="a snapshot, referenced by the alarm")
    ptz_preset: str | None = Field(default=None, description="turn the camera to this preset")
    clip: ClipRequest | None = Field(default=None, description="a pre/post-alarm clip")

    @model_validator(mode="after")
    def _one_kind(self) -> LinkageAction:
        output = self.device is not None or self.output is not None
        camera = [k for k in ("snapshot", "ptz_preset", "clip") if getattr(self, k)]
        if output and (self.device is None or self.output is None):
            raise ValueError("an output action needs both device and output")
        if output == (self.camera is not None):
            raise ValueError("give device + output, or camera + snapshot / ptz_preset / clip")
        if self.camera is not None and len(camera) != 1:
            raise ValueError("a camera action is one of snapshot: true, ptz_preset: NAME, "
                             "clip: {pre, post}")
        return self

    @property
    def target(self) -> str:
        return self.camera if self.camera is not None else str(self.device)


class LinkageRule(Strict):
    """When an alarm of these conditions is raised in these zones, drive these outputs.

    Fire linkage is a secondary action: egress doors must be released by the fire system itself
    (NFPA 72 21.9 / GB 50116); the gateway's release adds to it and reports what it did.
    """

    name: Identifier
    when: LinkageTrigger = LinkageTrigger()
    do: list[LinkageAction] = []
    lockdown: bool = Field(default=False, description="also start a lockdown (every gate "
                                                      "locked; fire release still wins)")

    @model_validator(mode="after")
    def _does_something(self) -> LinkageRule:
        if not self.do and not self.lockdown:
            raise ValueError("a rule needs outputs to drive (do) or lockdown: true")
        return self


class ConsoleListen(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)


class ConsoleTls(Strict):
    cert_file: Path
    key_file: Path


class MapMarker(Strict):
    """Where a device (or one of its points) is on the campus map, in % of the image."""

    device: Identifier
    point: str | None = None
    x: float = Field(ge=0, le=100, description="% of the image width, from the left")
    y: float = Field(ge=0, le=100, description="% of the image height, from the top")
    label: str = ""


class CampusMap(Strict):
    image: Path = Field(description="site plan (PNG, JPEG or SVG), relative to the site file")
    markers: list[MapMarker] = []

    @field_validator("image", mode="after")
    @classmethod
    def _beside_the_site_file(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        path = value if value.is_absolute() or base is None else Path(base) / value
        if not path.is_file():
            raise ValueError(f"no such image file {path}")
        if path.suffix.lower() not in IMAGE_TYPES:
            raise ValueError(f"{path.name}: the map must be {', '.join(IMAGE_TYPES)}")
        return path


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".svg": "image/svg+xml"}


class Console(Strict):
    """The guard-room console: a web board in a browser."""

    enabled: bool = True
    listen: ConsoleListen = ConsoleListen()
    tls: ConsoleTls | None = None
    plain_http: bool = Field(
        default=False, description="allow plain HTTP on an address other than loopback (a "
        "closed guard-room network only)")
    session_idle: Seconds = Field(default=30 * 60.0, gt=0, le=7 * 86400)
    login_attempts: int = Field(
        default=5, ge=1, le=100, description="failed logins of one name from one client before "
        "that client waits before each further try (1 s, doubling); never a lock of the name")
    lockout: Seconds = Field(default=15 * 60.0, gt=0, le=86400,
                             description="the longest such wait")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (addresses or networks); none by default, so a "
        "client cannot choose the address its login attempts are counted under")
    language: Literal["zh-CN", "en"] = "zh-CN"
    map: CampusMap | None = None
    zones: dict[Identifier, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default={}, description="names to show for zone ids (a gate's zone shows the gate's "
                                "name unless named here)")

    @model_validator(mode="after")
    def _secure_by_default(self) -> Console:
        if self.tls is None and not self.plain_http and not _loopback(self.listen.host):
            raise ValueError(
                f"listen.host {self.listen.host} is not a loopback address: give tls "
                "(cert_file, key_file), or set plain_http: true for a closed guard-room network")
        return self


WILDCARDS = {"", "0.0.0.0", "::"}


def _listener_clashes(site: SiteConfig) -> list[str]:
    """Two servers of the gateway on one port (one of them on every address, or both on the
    same one): the second would never listen, and that path would be silently dead."""
    listeners: list[tuple[str, str, int]] = []
    if site.console.enabled:
        listeners.append(("console.listen", site.console.listen.host, site.console.listen.port))
    if site.metrics.enabled:
        listeners.append(("metrics.listen", site.metrics.listen.host, site.metrics.listen.port))
    for n, device in enumerate(site.devices):
        listen = getattr(device, "listen", None)
        if listen is not None:
            listeners.append((f"devices[{n}].listen", listen.host, listen.port))
    problems = []
    for i, (name, host, port) in enumerate(listeners):
        for other, other_host, other_port in listeners[:i]:
            if port == other_port and (host == other_host or host in WILDCARDS
                                       or other_host in WILDCARDS):
                problems.append(f"{name}: {host}:{port} clashes with {other} "
                                f"({other_host}:{other_port}): give each server its own port")
    return problems


def _access_references(site: SiteConfig) -> list[str]:
    """Readers and controllers name gates and doors of ``access``; inventory ids are unique."""
    problems = []
    gates = {g.id for g in site.access.gates}
    doors = {d.id for d in site.access.doors}
    schedules = {s.id for s in site.access.schedules}
    for n, device in enumerate(site.devices):
        for name in sorted(getattr(device, "schedules", set)()):
            if name not in schedules:
                problems.append(f"devices[{n}]: schedule {name!r} is not in access.schedules "
                                f"({sorted(schedules)})")
    for n, device in enumerate(site.devices):
        for gate in sorted(getattr(device, "gates", set)()):
            if gate not in gates:
                problems.append(f"devices[{n}]: gate {gate!r} is not in access.gates "
                                f"({sorted(gates)})")
        for door in sorted(getattr(device, "doors", set)()):
            if door not in doors:
                problems.append(f"devices[{n}]: door {door!r} is not in access.doors "
                                f"({sorted(doors)})")
    seen: dict[str, str] = {}
    for device in site.devices:
        for entry in device.inventory():
            if entry["id"] in seen and seen[entry["id"]] != device.id:
                problems.append(f"devices: {entry['id']!r} is named in {seen[entry['id']]!r} "
                                f"and in {device.id!r}: reader and device ids must be unique")
            seen.setdefault(entry["id"], device.id)
    return problems


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsListen(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class Metrics(Strict):
    """Prometheus metrics at http://<listen>/metrics; off unless turned on."""

    enabled: bool = False
    listen: MetricsListen = MetricsListen()


class SiteConfig(Strict):
    site: Site
    gateway: GatewayIdentity = GatewayIdentity()
    mqtt: Mqtt = Mqtt()
    outbox: Outbox = Outbox()
    alarms: Alarms = Alarms()
    flood: Flood = Flood()
    intake: Intake = Intake()
    commands: Commands = Commands()
    console: Console = Console()
    metrics: Metrics = Metrics()
    operators: list[Operator] = []
    devices: list[DeviceConfig] = []
    linkage: list[LinkageRule] = []
    access: Access = Access()
    media: Media = Media()
    alarm_centre: AlarmCentre | None = None  # the second alarm path (gateway.alarm_centre)
    instructions: dict[str, Instruction] = Field(
        default={}, description="what the guard does for each alarm condition (console)")

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
                target = by_id.get(action.target)
                outputs = [o.name for o in getattr(target, "outputs", [])]
                if target is None:
                    field = "camera" if action.camera else "device"
                    problems.append(f"linkage[{index}].do[{n}].{field}: no device "
                                    f"{action.target!r}")
                elif action.camera is not None:
                    if target.driver != "onvif":
                        problems.append(f"linkage[{index}].do[{n}].camera: {action.camera!r} "
                                        "is not a camera (driver onvif)")
                elif action.output not in outputs:
                    problems.append(f"linkage[{index}].do[{n}].output: device {action.device!r} "
                                    f"has no output {action.output!r} (has {outputs})")
        problems += _listener_clashes(self)
        problems += _access_references(self)
        problems += instruction_problems(self.instructions)
        known = {entry["id"] for device in self.devices for entry in device.inventory()}
        for n, marker in enumerate(self.console.map.markers if self.console.map else []):
            if marker.device not in known:
                problems.append(f"console.map.markers[{n}].device: no device {marker.device!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def device(self, device_id: str) -> DeviceConfig:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise KeyError(device_id)


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file, or raise ConfigError listing every problem."""
    path = Path(path)
    try:
        document = read_yaml(path)
    except DocumentError as exc:
        raise ConfigError(str(exc)) from None
    raw = document.data
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping with site, mqtt, devices ...")
    try:
        return SiteConfig.model_validate(raw, context={"base_dir": path.parent})
    except ValidationError as exc:
        problems = every_problem(SiteConfig, raw, {"base_dir": path.parent}, path, exc,
                                 skip=frozenset(DRIVERS), lines=document.line)
        raise ConfigError("\n".join(problems), problems) from None
