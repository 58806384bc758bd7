"""Site-file section for an OSDP bus: the link (RS-485 serial port or a serial-to-Ethernet
converter reached over TCP) and the readers (PDs) on it, with their keys, card formats, keypad,
feedback, relay and door wiring, all as data.

One section is one bus: the gateway is its Control Panel. Each reader is a device of its own in
the event stream (its ``id`` is the events' device id and its inventory entry), like the
transmitters behind a GB/T 26875.3 receiver.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from gateway.kernel.fields import Identifier, Seconds, Secret, Strict

LedColor = Literal["black", "red", "green", "amber", "blue", "magenta", "cyan", "white"]
GateMode = Literal["normal", "locked", "free"]
TICK = 0.1  # OSDP times are counted in 100 ms units


def ticks(seconds: float) -> int:
    """A duration in OSDP's 100 ms units, at least one unit for anything above zero."""
    return 0 if seconds <= 0 else max(1, round(seconds / TICK))


class SerialLink(Strict):
    port: str = Field(description="serial device of the RS-485 adapter, e.g. /dev/ttyUSB0")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200, 230400] = 9600


class TcpLink(Strict):
    """A serial-to-Ethernet converter in TCP server mode; the gateway connects to it."""

    host: str
    port: int = Field(default=4001, ge=1, le=65535)
    connect_timeout: Seconds = Field(default=3.0, gt=0, le=60)


# --- card formats -------------------------------------------------------------------------------


class WiegandFormat(Strict):
    """A standard Wiegand layout with its two parity bits checked.

    ``wiegand26`` (HID H10301): even parity, 8-bit facility code, 16-bit card number, odd parity.
    ``wiegand34`` (HID H10306): even parity, 16-bit facility code, 16-bit card number, odd parity.
    ``wiegand37`` (HID H10304): even parity, 16-bit facility code, 19-bit card number, odd parity.
    """

    type: Literal["wiegand26", "wiegand34", "wiegand37"]
    number: Literal["card", "facility_card"] = Field(
        default="card",
        description="card: the card number alone; facility_card: facility code and card number "
                    "as one number (the data bits without parity), as many readers print it")
    facility_codes: list[int] = Field(
        default=[], description="if given, a card with another facility code is refused at the "
                                "reader and never offered to the gateway")

    @model_validator(mode="after")
    def _codes_fit(self) -> WiegandFormat:
        top = (1 << (8 if self.type == "wiegand26" else 16)) - 1
        for code in self.facility_codes:
            if not 0 <= code <= top:
                raise ValueError(f"facility code {code} does not fit {self.type} (0..{top})")
        return self


class RawFormat(Strict):
    """Raw card bits: the number is ``bit_count`` bits from ``first_bit`` (0 = the first bit the
    reader sends), most significant first, as a decimal string. No parity is checked."""

    type: Literal["raw"]
    length: int | None = Field(default=None, ge=1, le=512,
                               description="bits a card must have (others are refused)")
    first_bit: int = Field(default=0, ge=0, le=511)
    bit_count: int = Field(default=32, ge=1, le=128)

    @model_validator(mode="after")
    def _range_fits(self) -> RawFormat:
        if self.length is not None and self.first_bit + self.bit_count > self.length:
            raise ValueError(f"bits {self.first_bit}..{self.first_bit + self.bit_count - 1} "
                             f"do not fit in a {self.length}-bit card")
        return self


def _shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


CardFormat = Annotated[WiegandFormat | RawFormat, BeforeValidator(_shorthand),
                       Field(discriminator="type")]


# --- keypad, feedback, relay, door --------------------------------------------------------------


class Keypad(Strict):
    """Keys are collected until ``#`` (Enter) or until ``timeout`` passes without a key."""

    enabled: bool = True
    timeout: Seconds = Field(default=8.0, gt=0, le=60,
                             description="after the last key (or the PIN request) this long: "
                                         "the entry ends")
    min_digits: int = Field(default=4, ge=1, le=16)
    max_digits: int = Field(default=8, ge=1, le=16)
    pass_codes: bool = Field(default=False, description="digits entered without a card are "
                                                        "offered to the gateway as a pass code")

    @model_validator(mode="after")
    def _order(self) -> Keypad:
        if self.max_digits < self.min_digits:
            raise ValueError("max_digits is less than min_digits")
        return self


class Led(Strict):
    """A colour flashing ``count`` times ``on`` then ``off`` (``off: 0`` is steady for ``on``)."""

    color: LedColor
    on: Seconds = Field(default=1.0, ge=0.1, le=25.5)
    off: Seconds = Field(default=0.0, le=25.5)
    count: int = Field(default=1, ge=1, le=255)

    def duration(self) -> float:
        return self.count * (self.on + self.off)


class Buzzer(Strict):
    on: Seconds = Field(default=0.1, ge=0.1, le=25.5)
    off: Seconds = Field(default=0.1, le=25.5)
    count: int = Field(default=1, ge=1, le=255)


class Signal(Strict):
    led: Led | None = None
    buzzer: Buzzer | None = None


class IdleLed(Strict):
    """The reader's permanent LED state, which shows the gate mode."""

    color: LedColor
    on: Seconds = Field(default=0.5, ge=0.1, le=25.5)
    off: Seconds = Field(default=0.0, le=25.5, description="0: steady")


class Feedback(Strict):
    grant: Signal = Signal(led=Led(color="green", on=2.0), buzzer=Buzzer(on=0.2, count=1))
    deny: Signal = Signal(led=Led(color="red", on=0.3, off=0.2, count=3),
                          buzzer=Buzzer(on=0.1, off=0.1, count=2))
    pin_required: Signal = Signal(led=Led(color="amber", on=0.3, off=0.3, count=13),
                                  buzzer=Buzzer(on=0.1, count=1))
    idle: dict[GateMode, IdleLed | None] = Field(
        default={"normal": IdleLed(color="red"),
                 "locked": IdleLed(color="red", on=0.5, off=0.5),
                 "free": IdleLed(color="green")},
        description="permanent LED per gate mode; null leaves the reader's own")


class Relay(Strict):
    output: int = Field(default=0, ge=0, le=255, description="output number on the reader")
    pulse: Seconds = Field(default=3.0, ge=0.1, le=25.5,
                           description="how long a grant releases the strike or lane")


class DoorWiring(Strict):
    """A door contact (and request-to-exit button) wired to the reader's inputs."""

    id: Identifier = Field(description="door id (access.doors in the site file)")
    contact_input: int = Field(ge=0, le=255)
    rex_input: int | None = Field(default=None, ge=0, le=255)
    contact_active_open: bool = Field(
        default=True, description="the contact input reads active when the door is open")
    expect_open_within: Seconds = Field(
        default=10.0, gt=0, le=600,
        description="an opening this soon after a grant, an exit request or an open action is "
                    "reported as let through by it (granted_by)")

    @model_validator(mode="after")
    def _inputs(self) -> DoorWiring:
        if self.rex_input is not None and self.rex_input == self.contact_input:
            raise ValueError("contact_input and rex_input are the same input")
        return self


_SCBK_D = bytes(range(0x30, 0x40))  # the public default key of the standard


class Reader(Strict):
    id: Identifier = Field(description="reader id, unique in the site; the events' device id")
    address: int = Field(ge=0, le=126, description="OSDP address of the reader on the bus")
    gate: Identifier
    direction: Literal["in", "out"]
    key: Secret = Field(description="the reader's secure channel base key (SCBK): 32 hex "
                                    "digits, from env or file")
    name: str = ""
    card_format: CardFormat = WiegandFormat(type="wiegand26")
    pin: Keypad = Keypad()
    feedback: Feedback = Feedback()
    relay: Relay | None = Relay()
    door: DoorWiring | None = None
    status_query: bool = Field(
        default=False,
        description="ask the reader for its input and tamper status when it comes online; only "
                    "for readers that answer osdp_ISTAT/osdp_LSTAT (libosdp takes a reader that "
                    "refuses a command offline)")
    simulator: dict[str, Any] | None = Field(
        default=None, description="reader simulator only (a dialect, its options); ignored")


def parse_key(text: str) -> bytes:
    """An SCBK as 32 hex digits; the public default key and an all-zero key are refused."""
    digits = text.strip().replace(" ", "").replace(":", "")
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise ValueError("the key is not hexadecimal") from None
    if len(key) != 16:
        raise ValueError(f"the key has {len(digits)} hex digits, expected 32")
    if key == _SCBK_D:
        raise ValueError("the key is the public default key SCBK-D")
    if key == bytes(16):
        raise ValueError("the key is all zeros")
    return key


class OsdpBusConfig(Strict):
    driver: Literal["osdp"]
    id: Identifier
    name: str = ""
    serial: SerialLink | None = None
    tcp: TcpLink | None = None
    readers: list[Reader] = Field(min_length=1, max_length=126)
    reconnect_max: Seconds = Field(
        default=30.0, ge=1, le=3600,
        description="a reader that stopped answering is tried again after 1 s, 2 s, 4 s ... up "
                    "to this")
    key_retry: Seconds = Field(
        default=300.0, ge=10, le=86400,
        description="a reader that failed the secure channel is tried again after this (libosdp "
                    "waits 300 s by itself); install_key or a restart tries at once")
    stale_read: Seconds = Field(
        default=2.0, gt=0, le=60,
        description="a card read older than this when its decision would start is refused as "
                    "stale (recorded, never opens), and so is a read a reader delivers on coming "
                    "back from an outage longer than this: it held the read while offline")
    install_window: Seconds = Field(default=20.0, ge=2, le=300,
                                    description="how long install_key waits for the reader")
    libosdp_log: Literal["emergency", "error", "warning", "info", "debug"] = Field(
        default="error", description="what libosdp itself prints (to the process's output; "
                                     "one setting for the whole process)")

    @model_validator(mode="after")
    def _check(self) -> OsdpBusConfig:
        if (self.serial is None) == (self.tcp is None):
            raise ValueError("give exactly one of serial or tcp")
        problems: list[str] = []
        ids = [r.id for r in self.readers]
        for twice in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"reader id {twice!r} is used twice")
        if self.id in ids:
            problems.append(f"reader id {self.id!r} is also the bus id")
        addresses = [r.address for r in self.readers]
        for address in sorted({a for a in addresses if addresses.count(a) > 1}):
            problems.append(f"two readers have address {address}")
        doors = [r.door.id for r in self.readers if r.door is not None]
        for twice in sorted({d for d in doors if doors.count(d) > 1}):
            problems.append(f"door {twice!r} is wired to two readers")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def reader(self, reader_id: str) -> Reader | None:
        return next((r for r in self.readers if r.id == reader_id), None)

    def gates(self) -> set[str]:
        return {r.gate for r in self.readers}

    def doors(self) -> set[str]:
        return {r.door.id for r in self.readers if r.door is not None}

    def endpoints(self) -> list[str]:
        if self.tcp is not None:
            return [f"osdp tcp {self.tcp.host}:{self.tcp.port}"]
        assert self.serial is not None
        return [f"osdp serial {self.serial.port}"]

    def inventory(self) -> list[dict[str, Any]]:
        """One entry per reader: the events name readers, not the bus."""
        return [
            {
                "id": r.id,
                "driver": self.driver,
                "name": r.name,
                "gate": r.gate,
                "direction": r.direction,
                "address": r.address,
                "door": r.door.id if r.door is not None else None,
                "bus": self.id,
                "endpoint": self.endpoints()[0],
            }
            for r in self.readers
        ]
