"""A simulated OSDP reader (PD): libosdp's ``PeripheralDevice`` with a card reader, a keypad,
an LED, a buzzer, outputs (a lock relay) and inputs (a door contact, a request-to-exit button),
a tamper switch and a power supply.

It behaves as the standard says a PD does, not as our driver happens to ask: it takes LED,
buzzer and output commands and shows their effect (temporary LED and output states run out by
their timers), reports card reads as raw bits, key presses as ASCII, and status changes (inputs,
tamper, power) unsolicited in reply to the next poll, and reports its current status once each
time a secure channel is set up, so a Control Panel that reconnects learns the present state.

For the abuse tests it misbehaves on demand: ``chatter`` flips its tamper switch until stopped
(a flood of status reports), ``slow`` makes it answer each poll late and ``bad-reply`` spoils
its next replies (a wrong CRC, or a length field claiming 65,535 bytes).

``line-cut`` cuts its pair but not its power (a field fault): it hears no poll and keeps what it
has not sent. libosdp's PD, like many readers, queues a card read it cannot report and sends it
on the first polls once a Control Panel is back (``line-mend``); ``offline`` and ``online`` are
a power cut, after which it starts afresh with an empty queue.

Its key comes from the same secret as the gateway's. ``wrong-key`` gives it another key,
``install-mode`` makes it a factory-fresh reader that knows only the default key (SCBK-D) until
a Control Panel sends it a key (osdp_KEYSET), and ``restore-key`` gives it back the site key.
It takes a new key (osdp_KEYSET) inside a secure channel and keeps it; ``keyset`` makes it
refuse the next ones, acknowledge and forget them, or take them with the acknowledgement lost.
``drop-session`` makes it forget its secure session (a reader whose secure element resets).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import osdp_sys  # type: ignore[import-not-found]
from osdp import (
    Capability,
    CardFormat,
    Command,
    Event,
    LibFlag,
    PDCapabilities,
    StatusReportType,
)
from pydantic import BaseModel, ConfigDict, Field

from drivers.osdp.models import OsdpBusConfig, Reader, parse_key
from gateway.kernel.fields import ConfigError
from simulators.chatter import Chatter, ChatterArgs
from simulators.dialects import settings_of
from simulators.osdp.cards import encode
from simulators.osdp.dialects import KeysetAnswer, ReaderOptions
from simulators.osdp.line import Line, Port
from simulators.simulator import InvalidArguments, NoArgs, UnknownAction, parse_arguments

ACTIONS = ("present-card", "keypad", "tamper", "tamper-restore", "power-fault", "power-restore",
           "offline", "online", "wrong-key", "install-mode", "restore-key", "chatter", "slow",
           "bad-reply", "line-cut", "line-mend", "keyset", "drop-session")
COLOR_NAMES = {0: "black", 1: "red", 2: "green", 3: "amber", 4: "blue", 5: "magenta", 6: "cyan",
               7: "white"}
COMMAND_NAMES = {Command.Output: "output", Command.LED: "led", Command.Buzzer: "buzzer",
                 Command.Text: "text", Command.Keyset: "keyset", Command.Comset: "comset",
                 Command.Manufacturer: "manufacturer", Command.Status: "status"}
TICK = 0.1
KeyState = Literal["site", "wrong", "install_mode", "installed"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class CardArgs(_Args):
    card: str = Field(pattern=r"^\d{1,40}$")
    facility: int | None = Field(default=None, ge=0, le=65535)
    bad_parity: bool = False


class KeypadArgs(_Args):
    keys: str = Field(pattern=r"^[0-9*#]{1,64}$")


class SlowArgs(_Args):
    seconds: float = Field(ge=0, le=10, description="how late it answers each poll (0: at once)")


class KeysetArgs(_Args):
    answer: KeysetAnswer = Field(description="how it answers the next osdp_KEYSET commands")


class BadReplyArgs(_Args):
    kind: Literal["crc", "oversized"] = "crc"
    count: int = Field(default=1, ge=1, le=100, description="how many of its next replies")


_ARGS: dict[str, type[BaseModel]] = {"present-card": CardArgs, "keypad": KeypadArgs,
                                     "chatter": ChatterArgs, "slow": SlowArgs,
                                     "bad-reply": BadReplyArgs, "keyset": KeysetArgs}


@dataclass
class Timed:
    """A state a command set for a while (a temporary LED, an output pulse, a beep)."""

    until: float = 0.0
    detail: dict[str, Any] | None = None

    def active(self, now: float) -> bool:
        return self.detail is not None and now < self.until


class SimulatedReader:
    driver = "osdp"
    actions: Sequence[str] = ACTIONS

    def __init__(self, bus: OsdpBusConfig, config: Reader, line: Line) -> None:
        self.bus = bus
        self.config = config
        self.device_id = config.id
        self.line = line
        self.port = Port(line)
        self.key_state: KeyState = "site"
        options = parse_arguments(ReaderOptions, f"reader {config.id}: simulator",
                                  settings_of("osdp", config.model_dump(), config.simulator,
                                              f"reader {config.id}"))
        self.keyset: KeysetAnswer = options.keyset
        self.port.delay = options.reply_delay
        self.status_every = options.status_every
        self.answers_at = config.address if options.answers_at is None else options.answers_at
        self._status_due = 0.0
        self.status_reports = 0  # how many times it reported its status, asked or not
        self._forgetting = False  # acknowledged a key it keeps only until the next tick
        self.inputs = bytearray(self._input_count())
        self.tamper = False
        self.power_fault = False
        self.cards_presented = 0
        self._lock = threading.Lock()
        self._led_permanent: dict[str, Any] = {"color": "black", "on": 0.0, "off": 0.0}
        self._led_temporary = Timed()
        self._buzzer = Timed()
        self._buzzer_last: dict[str, Any] | None = None
        self._led_last_temporary: dict[str, Any] | None = None
        self._outputs: dict[int, dict[str, Any]] = {
            n: {"permanent": False, "pulse": Timed(), "pulses": 0}
            for n in range(self._output_count())}
        self._recent: deque[dict[str, Any]] = deque(maxlen=20)
        self._pd: Any = None
        self._sc_was_active = False
        self._key = self._site_key()
        self._chatter = Chatter(config.id)

    # --- identity -----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.bus.endpoints()[0]} address {self.answers_at}"

    @property
    def online(self) -> bool:
        return self.port.powered

    def summary(self) -> str:
        door = f"  door {self.config.door.id}" if self.config.door else ""
        return f"reader gate {self.config.gate} ({self.config.direction}){door}"

    def _site_key(self) -> bytes:
        try:
            return parse_key(self.config.key.read())
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"simulated reader {self.device_id}: key: {exc}") from None

    def _input_count(self) -> int:
        door = self.config.door
        wired = [door.contact_input, door.rex_input or 0] if door is not None else []
        return max([2, *(n + 1 for n in wired)])

    def _output_count(self) -> int:
        relay = self.config.relay
        return max(1, relay.output + 1 if relay is not None else 1)

    # --- libosdp (line thread) ----------------------------------------------------------------

    def setup(self) -> None:
        """(Re)create the PD with the key of ``key_state``; runs in the line's thread."""
        if self.key_state == "install_mode":
            key, flags = None, 0
        else:
            key = os.urandom(16) if self.key_state == "wrong" else self._key
            flags = LibFlag.EnforceSecure
        caps = PDCapabilities([
            (Capability.ContactStatusMonitoring, 1, len(self.inputs)),
            (Capability.OutputControl, 1, len(self._outputs)),
            (Capability.LEDControl, 1, 1),
            (Capability.AudibleControl, 1, 1),
            (Capability.CardDataFormat, 1, 1),
            (Capability.Readers, 1, 1),
        ])
        info = {"name": self.device_id, "address": self.answers_at, "flags": flags,
                "scbk": key, "channel": self.port, "version": 2, "model": 1,
                "vendor_code": 0x0A0B0C, "serial_number": 0x1000 + self.config.address,
                "firmware_version": 0x010203}
        self._pd = None
        self.port.clear()
        # libosdp logs every secure-channel handshake at INFO to stdout; warnings are enough
        osdp_sys.set_loglevel(osdp_sys.LOG_WARNING)
        pd = osdp_sys.PeripheralDevice(info, capabilities=caps.get())
        pd.set_command_callback(self._on_command)
        self._pd = pd
        self._sc_was_active = False

    def tick(self) -> None:
        if self._pd is None or not self.port.powered:
            return
        self.port.send_due()
        self._pd.refresh()
        if self._forgetting:  # the acknowledgement went out; the key was never stored
            self._forgetting = False
            self.setup()
            return
        active = bool(self._pd.is_sc_active())
        now = time.monotonic()
        if active and not self._sc_was_active:
            self._report_status()  # a CP that just (re)connected learns the present state
            self._status_due = now + self.status_every
        elif active and self.status_every and now >= self._status_due:
            self._report_status(remote=True)  # unasked, unchanged: as supervising readers do
            self._status_due = now + self.status_every
        self._sc_was_active = active

    def hear(self, data: bytes) -> None:
        self.port.hear(data)

    def close(self) -> None:
        self._pd = None

    async def stop(self) -> None:
        await self._chatter.stop()

    def _submit(self, event: dict[str, Any]) -> None:
        if self._pd is not None:
            self._pd.submit_event(event)

    def _report_status(self, remote: bool = False) -> None:
        self.status_reports += 1
        self._submit({"event": Event.Status, "type": StatusReportType.Input,
                      "report": bytes(self.inputs)})
        self._submit({"event": Event.Status, "type": StatusReportType.Local,
                      "report": bytes([int(self.tamper), int(self.power_fault)])})
        if remote:  # its attached reader: 0, normal
            self._submit({"event": Event.Status, "type": StatusReportType.Remote,
                          "report": b"\x00"})

    def _on_command(self, command: dict[str, Any]) -> tuple[int, Any]:
        status = 0
        now = time.monotonic()
        kind = command.get("command")
        with self._lock:
            self._recent.append({"at": time.time(), "command": COMMAND_NAMES.get(kind, kind),
                                 **{k: _jsonable(v) for k, v in command.items()
                                    if k not in ("command", "data")}})
            if kind == Command.LED:
                self._led(command, now)
            elif kind == Command.Buzzer:
                self._beep(command, now)
            elif kind == Command.Output:
                status = self._output(command, now)
            elif kind == Command.Keyset:
                status = self._take_key(command.get("data"))
        return (status, None)  # a fresh tuple each call: libosdp's binding keeps its reference

    def _take_key(self, data: object) -> int:
        """osdp_KEYSET: libosdp's PD uses the new key from its next secure session once this
        answers 0 (ACK); the reader keeps it across power cycles (``setup``)."""
        if not isinstance(data, bytes) or len(data) != 16 or self.keyset == "refuse":
            return -1  # libosdp answers NAK (SC conditions not met) and keeps the old key
        if self.keyset == "forget":
            self._forgetting = True
            return 0
        if self.keyset == "lost-ack":
            self.port.spoil.append("crc")
        self._key = data
        self.key_state = "installed"
        return 0

    def _led(self, command: dict[str, Any], now: float) -> None:
        """osdp_LED: each half of one record acts by its own control code (0: leave it).
        The temporary settings run for their timer, then the permanent ones show; a permanent
        setting that comes with (or during) a temporary one is kept for after it."""
        temporary, permanent = led_halves(command)
        if temporary.get("control_code") == 2:
            timer = temporary.get("timer_count", 0) * TICK
            pattern = {**_led_pattern(temporary), "seconds": timer}
            self._led_temporary = Timed(now + timer, pattern)
            self._led_last_temporary = pattern
        elif temporary.get("control_code") == 1:
            self._led_temporary = Timed()
        if permanent.get("control_code") == 1:
            self._led_permanent = _led_pattern(permanent)

    def _beep(self, command: dict[str, Any], now: float) -> None:
        on, off = command.get("on_count", 0) * TICK, command.get("off_count", 0) * TICK
        count = command.get("rep_count", 0)
        detail = {"tone": command.get("control_code"), "on": on, "off": off, "count": count}
        if command.get("control_code") == 1:
            self._buzzer = Timed()
            return
        self._buzzer = Timed(now + count * (on + off), detail)
        self._buzzer_last = detail

    def _output(self, command: dict[str, Any], now: float) -> int:
        number = command.get("output_no", -1)
        output = self._outputs.get(number)
        if output is None:
            return -1
        code, timer = command.get("control_code", 0), command.get("timer_count", 0) * TICK
        if code in (1, 2):  # permanent, cancelling any timed operation
            output["permanent"] = code == 2
            output["pulse"] = Timed()
        elif code in (3, 4):  # permanent, after the timed operation
            output["permanent"] = code == 4
        elif code in (5, 6):  # temporary on / off for the timer
            output["pulse"] = Timed(now + timer, {"on": code == 5, "seconds": timer})
            if code == 5:
                output["pulses"] += 1
        return 0

    # --- what a tester does -------------------------------------------------------------------

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        if action not in ACTIONS:
            raise UnknownAction(f"{self.device_id}: unknown action {action!r} "
                                f"(known: {', '.join(ACTIONS)})")
        parsed = parse_arguments(_ARGS.get(action, NoArgs), f"{self.device_id} {action}", args)
        if isinstance(parsed, CardArgs):
            await self.present_card(int(parsed.card), parsed.facility, parsed.bad_parity)
        elif isinstance(parsed, KeypadArgs):
            await self.press_keys(parsed.keys)
        elif isinstance(parsed, ChatterArgs):
            await self._chatter.set(parsed, self._flip_tamper)
        elif isinstance(parsed, BadReplyArgs):
            kind, count = parsed.kind, parsed.count
            await self.line.call(lambda: self.port.spoil.extend([kind] * count))
        elif isinstance(parsed, KeysetArgs):
            self.keyset = parsed.answer
        elif isinstance(parsed, SlowArgs):
            await self.line.call(lambda: setattr(self.port, "delay", parsed.seconds))
        elif action in ("tamper", "tamper-restore"):
            await self.set_local(tamper=action == "tamper")
        elif action in ("power-fault", "power-restore"):
            await self.set_local(power_fault=action == "power-fault")
        elif action == "offline":
            await self.line.call(lambda: setattr(self.port, "powered", False))
        elif action == "online":
            await self.line.call(self._power_on)
        elif action == "line-cut":
            await self.line.call(lambda: setattr(self.port, "powered", False))
        elif action == "line-mend":
            await self.line.call(self._mend_line)
        elif action == "drop-session":  # it forgets its secure session, keeps its key and power
            await self.line.call(self.setup)
        else:
            state: KeyState = {"wrong-key": "wrong", "install-mode": "install_mode",
                               "restore-key": "site"}[action]  # type: ignore[assignment]
            await self.set_key_state(state)

    def _mend_line(self) -> None:
        if not self.port.powered:
            self.port.clear()  # what was half sent or heard when the pair was cut is lost
            self.port.powered = True

    def _power_on(self) -> None:
        if not self.port.powered:
            self.port.clear()
            self.port.powered = True
            self.setup()  # a reader that lost power starts afresh (its key is kept)

    async def present_card(self, number: int, facility: int | None = None,
                           bad_parity: bool = False) -> None:
        try:
            data, length, wiegand = encode(self.config.card_format, number, facility, bad_parity)
        except ValueError as exc:
            raise InvalidArguments(f"{self.device_id} present-card: {exc}") from None
        event = {"event": Event.CardRead, "reader_no": 0, "direction": 0,
                 "format": CardFormat.Wiegand if wiegand else CardFormat.Unspecified,
                 "length": length, "data": data}
        self.cards_presented += 1
        await self.line.call(lambda: self._submit(event))

    async def _flip_tamper(self, on: bool) -> None:
        await self.set_local(tamper=on)

    async def press_keys(self, keys: str) -> None:
        event = {"event": Event.KeyPress, "reader_no": 0, "data": keys.encode("ascii")}
        await self.line.call(lambda: self._submit(event))

    async def set_local(self, tamper: bool | None = None, power_fault: bool | None = None) -> None:
        def work() -> None:
            if tamper is not None:
                self.tamper = tamper
            if power_fault is not None:
                self.power_fault = power_fault
            self._submit({"event": Event.Status, "type": StatusReportType.Local,
                          "report": bytes([int(self.tamper), int(self.power_fault)])})

        await self.line.call(work)

    async def set_inputs(self, levels: Mapping[int, bool]) -> None:
        """Drive input lines (the door simulator's contact and exit button)."""
        def work() -> None:
            for number, level in levels.items():
                self.inputs[number] = int(level)
            self._submit({"event": Event.Status, "type": StatusReportType.Input,
                          "report": bytes(self.inputs)})

        await self.line.call(work)

    async def set_key_state(self, state: KeyState) -> None:
        def work() -> None:
            if state == "site":
                self._key = self._site_key()
            self.key_state = state
            self.setup()

        await self.line.call(work)

    # --- what a tester sees -------------------------------------------------------------------

    def output_on(self, number: int) -> bool:
        output = self._outputs[number]
        pulse: Timed = output["pulse"]
        if pulse.active(time.monotonic()):
            return bool(pulse.detail and pulse.detail["on"])
        return bool(output["permanent"])

    def pulses(self, number: int) -> int:
        return int(self._outputs[number]["pulses"])

    def led(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            showing = (self._led_temporary.detail if self._led_temporary.active(now)
                       else self._led_permanent)
            return {"color": showing["color"] if showing else "black", "showing": showing,
                    "permanent": self._led_permanent, "last_temporary": self._led_last_temporary}

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    async def state(self) -> dict[str, Any]:
        sc = await self.line.call(lambda: bool(self._pd is not None and self._pd.is_sc_active()))
        linked = await self.line.call(lambda: bool(self._pd is not None and self._pd.is_online()))
        now = time.monotonic()
        with self._lock:
            buzzer = {"sounding": self._buzzer.active(now), "last": self._buzzer_last}
            outputs = [{"output": n, "on": self.output_on(n), "permanent": o["permanent"],
                        "pulses": o["pulses"],
                        "pulse": o["pulse"].detail if o["pulse"].active(now) else None}
                       for n, o in self._outputs.items()]
        relay = self.config.relay
        return {
            "id": self.device_id, "driver": self.driver, "address": self.address,
            "online": self.online, "powered": self.port.powered, "cp_link": linked,
            "secure_channel": sc, "key": self.key_state, "keyset": self.keyset,
            "gate": self.config.gate,
            "direction": self.config.direction, "led": self.led(), "buzzer": buzzer,
            "outputs": outputs,
            "relay": None if relay is None else {"output": relay.output,
                                                 "on": self.output_on(relay.output),
                                                 "pulses": self.pulses(relay.output)},
            "inputs": list(self.inputs), "tamper": self.tamper, "power_fault": self.power_fault,
            "cards_presented": self.cards_presented, "recent_commands": self.recent(),
            "slow": self.port.delay,
            "chatter": {"running": self._chatter.running, "flips": self._chatter.flips},
            "actions": list(self.actions),
        }


def led_halves(command: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(temporary, permanent) settings of one osdp_LED record.

    libosdp's C record carries both halves; its Python binding passes one, flat, with
    ``temporary`` saying which (python/osdp_sys/data.c, pyosdp_make_dict_cmd_led: the
    permanent half is dropped when the temporary one acts). A command may also name both as
    ``{"temporary": {...}, "permanent": {...}}``, the record's own shape.
    """
    temporary, permanent = command.get("temporary"), command.get("permanent")
    if isinstance(temporary, Mapping) or isinstance(permanent, Mapping):
        return (temporary if isinstance(temporary, Mapping) else {},
                permanent if isinstance(permanent, Mapping) else {})
    return (command, {}) if temporary else ({}, command)


def _led_pattern(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {"color": COLOR_NAMES.get(settings.get("on_color", 0), "?"),
            "off_color": COLOR_NAMES.get(settings.get("off_color", 0), "?"),
            "on": settings.get("on_count", 0) * TICK, "off": settings.get("off_count", 0) * TICK}


def _jsonable(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value
