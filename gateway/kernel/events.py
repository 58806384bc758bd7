"""The normalised event model: what every driver emits and every consumer receives.

An ``Event`` is a frozen fact observed at a device (a panic button pressed, a module offline) or
a change in the gateway's own state (an alarm acknowledged, a drill stopped). Each event type is
declared once in ``CATALOGUE`` with its payload model, so the JSON Schemas and the AsyncAPI
document are generated from here and cannot drift from what is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointFact(Payload):
    """A change on one input point of a device (a button, its line supervision, its tamper)."""

    point: str = Field(description="point id from the site file, unique within the device")
    zone: str = Field(description="zone the point belongs to, e.g. gate-house")
    location: str = Field(default="", description="where a person finds the point")
    name: str = Field(default="", description="human name of the point")
    input: int | None = Field(default=None, description="input address on the I/O module")


FireCondition = Literal["fire", "pre_alarm", "fault", "supervisory", "shielded", "power_fault"]


class FireFact(Payload):
    """A condition at a fire panel's point, or at a component behind a transmission device.

    ``point`` is stable within the device: ``L<loop>-P<point>`` (or ``Z<zone>``) for register-map
    panels, ``S<system type>-<system address>/C<component address>`` for GB/T 26875.3 components,
    ``system`` or ``transmitter`` for conditions of the whole panel or transmission device.
    """

    condition: FireCondition
    point: str
    zone: str = Field(default="", description="zone name from the site file or profile")
    location: str = Field(default="", description="where a person finds the point")
    description: str = Field(default="", description="the panel's own text for the point")
    loop: int | None = None
    point_number: int | None = None
    system_type: int | None = Field(default=None, description="GB/T 26875.3 system type code")
    system_address: int | None = None
    component_address: int | None = None
    component_type: str = Field(default="", description="e.g. smoke detector, manual call point")
    component_type_code: int | None = None
    device_time: datetime | None = Field(default=None, description="time the device reported")
    status: int | None = Field(default=None, description="raw status word, for diagnosis")


class PanelAction(Payload):
    """Something done at the panel itself (reset, silence) or recorded by it (operation)."""

    action: Literal["reset", "silenced", "operation"]
    point: str = ""
    system_type: int | None = None
    system_address: int | None = None
    operator: str = Field(default="", description="operator id reported by the device, if any")
    operation_code: int | None = None
    description: str = ""
    device_time: datetime | None = None


class Availability(Payload):
    online: bool
    reason: str = Field(default="", description="why the state changed, e.g. 3 polls timed out")


class FloodReport(Payload):
    """A device reported more condition changes than its limit: what was held back, and since."""

    burst: int = Field(description="condition changes the device may report at once")
    per_second: float = Field(description="and then per second")
    since: datetime = Field(description="when the first report was held back")
    held_back: int = Field(description="condition changes held back so far (the device sends "
                                       "them again, or they show at the next poll)")
    held_back_types: dict[str, int] = Field(default_factory=dict,
                                            description="event type -> count, of those")
    seconds: float = Field(default=0.0, description="how long the flood lasted (when it ends)")


class OutputChange(Payload):
    """An output (siren, strobe, relay) the gateway drove, with the state it read back."""

    output: str = Field(description="output name from the site file")
    device: str = Field(default="", description="device the output is on, in linkage outcomes")
    address: int = Field(description="coil address on the device")
    requested: bool
    confirmed: bool | None = Field(description="state read back from the device; null if unread")
    reason: str = Field(default="", description="alarm or command that drove it")
    error: str = Field(default="", description="why the write or read-back failed, if it did")


class CameraAction(Payload):
    """A camera action a linkage rule took (a snapshot, a PTZ preset; a clip is started here
    and arrives later as ``campus.camera.clip``)."""

    camera: str
    action: Literal["snapshot", "ptz_preset", "clip"]
    ok: bool
    media_id: str | None = Field(default=None, description="the snapshot's media id")
    preset: str | None = None
    error: str = ""


class LinkageOutcome(Payload):
    """A linkage rule fired: what it drove and how each action went."""

    rule: str
    alarm_id: str
    zone: str
    ok: bool
    seconds_after_alarm: float
    actions: list[OutputChange]
    camera_actions: list[CameraAction] = Field(default_factory=list)


class AlarmSnapshot(Payload):
    """The full current state of one alarm (ISA-18.2 states, school reporting deadlines)."""

    alarm_id: str
    key: str = Field(description="device/point/condition the alarm is about")
    device_id: str
    point: str
    condition: str = Field(description="panic, line_fault, tamper, comm_fault, ...")
    severity: Severity
    zone: str = ""
    location: str = ""
    state: str = Field(
        description="active_unacknowledged, active_acknowledged, rtn_unacknowledged, "
        "rtn_acknowledged or closed"
    )
    active: bool
    acknowledged: bool
    latched: bool = Field(description="stays until a person resets it, even once clear")
    drill: bool
    raised_at: datetime
    activations: int = Field(description="how many times the condition became active while open")
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    returned_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    escalated_at: datetime | None = None
    police_called_at: datetime | None = Field(
        default=None, description="when a guard recorded that the police were called")
    police_called_by: str | None = None
    note: str = Field(default="", description="the latest note given (acknowledgement, police "
                                              "call or reset)")
    acknowledgement_note: str = Field(default="", description="the note given when it was "
                                                              "acknowledged")
    closing_note: str = Field(default="", description="the note given when it was reset")
    reports_due: dict[str, datetime] = Field(
        default_factory=dict, description="report kind -> deadline (first, written or general)"
    )
    reports_done: dict[str, datetime] = Field(default_factory=dict)
    overdue: list[str] = Field(default_factory=list, description="report kinds now overdue")


class AlarmChange(Payload):
    alarm: AlarmSnapshot
    by: str | None = Field(default=None, description="operator who caused the change, if any")
    report: str | None = Field(default=None, description="report kind for reported/report_overdue")


class DrillSummary(Payload):
    drill_id: str
    note: str
    started_at: datetime
    started_by: str
    stopped_at: datetime | None = None
    stopped_by: str | None = None
    alarms_raised: int = 0
    seconds_to_first_acknowledge: float | None = None
    seconds_to_last_reset: float | None = None
    alarms_still_open: int = 0


class EventsDropped(Payload):
    """The outbox hit a cap and deleted events that were never delivered."""

    count: int
    first_sequence: int
    last_sequence: int
    types: dict[str, int]
    reason: str


class MessageSetAside(Payload):
    """A message the outbox could not publish (too large, not encodable, refused by the broker
    again and again) was moved out of its lane so the messages behind it go on; its first
    bytes are kept in the state database (table ``outbox_aside``) for diagnosis."""

    kind: str = Field(description="event type or message kind, e.g. campus.camera.event")
    device: str = Field(description="device the message was about")
    sequence: int | None = Field(default=None, description="its seqno, if it was an event "
                                 "(the subscriber sees this gap explained)")
    topic: str
    size: int = Field(description="bytes of its payload (0: it could not be encoded)")
    reason: str
    life_safety: bool = False


class StorageState(Payload):
    """Whether the gateway can store what it accepts (its state dir's disk)."""

    state_dir: str
    reason: str = Field(default="", description="what the disk said, while it refuses writes")


class AlarmPathState(Payload):
    """A receiver of the alarm receiving centre (SIA DC-09) that stopped answering, or
    answers again."""

    receiver: str = Field(description="receiver name from the site file's alarm_centre")
    url: str = Field(description="tcp:// or udp:// address of the receiver")
    reason: str = Field(default="", description="why it counts as failed: no answer within "
                        "the time, refused, NAK or DUH, and what it said")
    active: str = Field(default="", description="the receiver alarms now go to ('' if none "
                        "answers)")
    queued: int = Field(default=0, description="messages waiting for the centre's ACK")


class CommandAudit(Payload):
    operator: str
    role: str
    command: str
    args: dict[str, object]
    outcome: str = Field(description="ok, denied or error")
    error: str = ""
    source: str = Field(default="mqtt", description="mqtt (a request) or console (a session)")


class DoorFact(Payload):
    """A door's contact or its request-to-exit button, as wired to a reader or I/O module."""

    door: str = Field(description="door id from the site file (the gate it belongs to)")
    gate: str = Field(default="", description="gate the door is part of")
    reader: str = Field(default="", description="reader (or controller door) it is wired to")
    open_seconds: float | None = Field(default=None,
                                       description="how long it has been open (held_open)")
    granted_by: str = Field(default="", description="what let it open: a grant, an exit "
                                                    "request, free passage (door.opened)")
    ended: Literal["", "door_forced", "door_held_open"] = Field(
        default="", description="the alarm condition a door.secured ends")


class ReaderFact(Payload):
    """A condition at a reader or gate controller: its tamper switch, its power."""

    reader: str = Field(description="reader id from the site file")
    gate: str = Field(default="", description="gate the reader belongs to")
    detail: str = Field(default="", description="the device's own words, if any")


class AccessDecisionFact(Payload):
    """A credential presented at a gate, and what was decided.

    Person names are not carried unless the site opts in (``access.privacy.names_in_events``);
    the central platform looks the person up by ``person_id``.
    """

    gate: str
    reader: str = Field(description="reader id (or controller door) within the device")
    direction: Literal["in", "out"]
    granted: bool
    reason: str | None = Field(default=None, description="deny reason (closed set, see the "
                                                         "access documentation); null if granted")
    credential: str = Field(description="the card number or pass code, masked to its last 4 "
                                        "characters unless the site opts in")
    person_id: str | None = None
    category: str | None = Field(default=None,
                                 description="staff, student, visitor or contractor")
    name: str | None = Field(default=None, description="only where the site opts in")
    decided_by: Literal["gateway", "device"] = Field(
        default="gateway", description="device: a controller decided by itself and reported it")
    device_reason: str = Field(default="", description="the controller's own code or text")
    mode: str = Field(default="normal", description="gate mode at the decision: normal, "
                                                    "locked, free")
    passback: bool = Field(default=False, description="soft anti-passback: granted, but the "
                                                      "person was already on that side")
    visit_id: str | None = None
    area: str = ""


class PresenceFact(Payload):
    """A person's first entry or last exit of the day (students: tell the parents)."""

    person_id: str
    category: str
    gate: str
    direction: Literal["in", "out"]
    late: bool = Field(default=False, description="arrived after the school's start time")
    name: str | None = Field(default=None, description="only where the site opts in")


class VisitFact(Payload):
    """A visit: registered, a pass used at a gate, overstayed, closed."""

    visit_id: str
    person_id: str
    host: str = Field(default="", description="person id of the host")
    purpose: str = ""
    valid_from: datetime
    valid_until: datetime
    gates: list[str] = Field(default_factory=list)
    entries_allowed: int
    entries_used: int = 0
    on_campus: bool = False
    gate: str = Field(default="", description="gate of the entry or exit, if any")
    closed_by: str = ""
    name: str | None = Field(default=None, description="only where the site opts in")


class GateModeChange(Payload):
    """A gate's mode (normal, locked, free) and why; what the gate hardware confirmed."""

    gate: str
    mode: Literal["normal", "locked", "free"]
    cause: str = Field(description="lockdown, fire_release, free_passage schedule, normal")
    by: str = Field(default="", description="operator or alarm that caused it")
    devices: dict[str, bool | None] = Field(
        default_factory=dict, description="device -> confirmed (null: could not be read back)")
    error: str = ""


class CredentialSync(Payload):
    """The credential list changed: a snapshot, a set of changes or a file import."""

    version: int
    kind: Literal["snapshot", "changes", "import"]
    credentials: int = Field(description="credentials held after the change")
    persons: int
    changed: int = Field(description="credentials added, changed or removed by it")
    by: str = ""


CameraEventKind = Literal["motion", "tamper", "line_crossed", "field", "digital_input",
                          "image_too_dark", "image_too_bright", "image_too_blurry", "other"]


class CameraFact(Payload):
    """An event a camera reported itself (ONVIF PullPoint), normalised.

    ``topic`` is the camera's own ONVIF topic (e.g. ``tns1:RuleEngine/CellMotionDetector/
    Motion``); ``kind`` what it means. ``device_time`` is the camera's time, ``time`` of the
    event the camera's time corrected by the measured clock skew.
    """

    camera: str = Field(description="camera id from the site file")
    zone: str = ""
    kind: CameraEventKind
    topic: str = Field(description="the camera's ONVIF topic")
    active: bool | None = Field(default=None, description="the state it reports (true: "
                                                          "motion, tamper... present), if any")
    source: dict[str, str] = Field(default_factory=dict,
                                   description="SimpleItem Source of the message (VideoSource"
                                               "ConfigurationToken, Rule ...)")
    data: dict[str, str] = Field(default_factory=dict, description="SimpleItem Data")
    device_time: datetime | None = None
    cleared_by: str = Field(default="", description="timeout: the camera never said it ended "
                                                    "and the gateway cleared it")


VideoCondition = Literal["covered", "blinded", "defocused", "moved", "crowding", "intrusion",
                         "line_crossed"]


class AnalyticFact(Payload):
    """A condition found by the gateway's own video analytics on a camera's stream."""

    camera: str
    zone: str = Field(default="", description="the camera's zone, or the analytic zone's id")
    analytic: Literal["tamper", "crowding", "intrusion", "line"]
    condition: VideoCondition
    score: float = Field(description="the measured value (occupancy, people, sharpness ...)")
    reason: str = ""
    area: str = Field(default="", description="analytic zone or line id from the site file")


class MediaReference(Payload):
    """A snapshot or clip the gateway stored; fetch it by ``media_id`` (the bytes never travel
    on the event stream unless the site turns a media topic on)."""

    media_id: str
    kind: Literal["snapshot", "clip"]
    camera: str
    alarm_id: str | None = Field(default=None, description="the alarm it was taken for")
    url: str = Field(description="where an authorised client fetches it")
    sha256: str
    size: int
    content_type: str
    captured_at: datetime
    seconds: float | None = Field(default=None, description="clips: length")
    pre_seconds: float | None = None
    source: str = Field(default="", description="snapshot_uri, or stream when the camera has "
                                                "no snapshot")


class CameraStatus(Payload):
    """How the gateway reaches a camera, and what it learnt of it."""

    camera: str
    state: Literal["up", "auth_refused", "not_onvif", "unreachable", "events_unreadable"] = Field(
        description="events_unreadable: the camera answers, but not one of its event answers "
        "(PullMessages) in a row could be used (over answer_limit, malformed): its events are "
        "lost")
    reason: str = ""
    clock_skew_s: float | None = Field(default=None, description="camera clock minus the "
                                                                 "gateway's, seconds")
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    profiles: list[str] = Field(default_factory=list)


class PtzMove(Payload):
    camera: str
    preset: str
    ok: bool
    reason: str = Field(default="", description="alarm or command that moved it")
    error: str = ""


@dataclass(frozen=True)
class EventType:
    name: str
    category: str
    payload: type[Payload]
    life_safety: bool
    summary: str


def _t(name: str, payload: type[Payload], summary: str, life_safety: bool = False) -> EventType:
    return EventType(f"campus.{name}", name.split(".")[0], payload, life_safety, summary)


PANIC_PRESSED = _t("panic.pressed", PointFact, "A panic button was pressed.", life_safety=True)
PANIC_RELEASED = _t("panic.released", PointFact, "A panic button returned to normal (key reset).")
LINE_FAULT = _t("panic.line_fault", PointFact, "The wiring of a button reports a fault.")
LINE_RESTORED = _t("panic.line_restored", PointFact, "The wiring supervision is normal again.")
TAMPER = _t("panic.tamper", PointFact, "A button housing or module was opened.")
TAMPER_RESTORED = _t("panic.tamper_restored", PointFact, "The tamper contact is closed again.")
DEVICE_ONLINE = _t("device.online", Availability, "The gateway reaches the device again.")
DEVICE_OFFLINE = _t("device.offline", Availability, "The gateway cannot reach the device.")
DEVICE_FLOODING = _t("device.flooding", FloodReport,
                     "A device reports more than a real one could; the excess is held back at "
                     "the device until it slows down.")
DEVICE_FLOOD_ENDED = _t("device.flood_ended", FloodReport,
                        "The device's reports are within its limit again.")
OUTPUT_CHANGED = _t("output.changed", OutputChange, "An output was driven and read back.")
ALARM_RAISED = _t("alarm.raised", AlarmChange, "A new alarm.")
ALARM_REACTIVATED = _t("alarm.reactivated", AlarmChange, "An open alarm's condition came back.")
ALARM_RETURNED = _t("alarm.returned", AlarmChange, "The alarm's condition returned to normal.")
ALARM_ACKNOWLEDGED = _t("alarm.acknowledged", AlarmChange, "A person acknowledged the alarm.")
ALARM_CLOSED = _t("alarm.closed", AlarmChange, "The alarm was reset and is closed.")
ALARM_ESCALATED = _t("alarm.escalated", AlarmChange, "Nobody acknowledged the alarm in time.")
ALARM_REPORTED = _t("alarm.reported", AlarmChange, "A person marked a report as made.")
ALARM_REPORT_OVERDUE = _t("alarm.report_overdue", AlarmChange, "A reporting deadline passed.")
ALARM_POLICE_CALLED = _t("alarm.police_called", AlarmChange,
                         "A guard recorded that the police were called about the alarm.")
DRILL_STARTED = _t("drill.started", DrillSummary, "A drill began; events carry the drill flag.")
DRILL_STOPPED = _t("drill.stopped", DrillSummary, "A drill ended, with its summary.")
FIRE_ALARM = _t("fire.alarm", FireFact, "A fire alarm at a panel point or component.",
                life_safety=True)
FIRE_PRE_ALARM = _t("fire.pre_alarm", FireFact, "A detector is close to its alarm threshold.")
FIRE_FAULT = _t("fire.fault", FireFact, "A fault at a fire panel point, loop or component.")
FIRE_SUPERVISORY = _t("fire.supervisory", FireFact, "A supervisory condition (valve, pump...).")
FIRE_SHIELDED = _t("fire.shielded", FireFact, "A point was disabled (shielded) at the panel.")
FIRE_POWER_FAULT = _t("fire.power_fault", FireFact, "Main or backup power of a panel failed.")
FIRE_RESTORED = _t("fire.restored", FireFact, "A fire-system condition is normal again.")
FIRE_PANEL_RESET = _t("fire.panel_reset", PanelAction, "The panel was reset; its alarms close.")
FIRE_SILENCED = _t("fire.silenced", PanelAction, "The panel's sounders were silenced.")
FIRE_OPERATION = _t("fire.operation", PanelAction, "An operation recorded by the panel.")
LINKAGE_EXECUTED = _t("linkage.executed", LinkageOutcome, "A linkage rule drove its outputs.")
EVENTS_DROPPED = _t("gateway.events_dropped", EventsDropped, "The outbox dropped events at a cap.")
MESSAGE_SET_ASIDE = _t("gateway.message_set_aside", MessageSetAside,
                       "A message could not be published and was set aside; its lane goes on.")
STORAGE_FULL = _t("gateway.storage_full", StorageState,
                  "The state dir's disk refuses writes (full or failing): events go on to a "
                  "connected broker flagged durable: false, kept in memory (bounded) meanwhile.")
STORAGE_OK = _t("gateway.storage_ok", StorageState,
                "The disk takes writes again; what was kept in memory is stored.")
ALARM_PATH_FAILED = _t("alarm_path.failed", AlarmPathState,
                       "A receiver of the alarm receiving centre does not acknowledge (test "
                       "messages unanswered, refused, NAKed or DUHed); alarms go to the next.")
ALARM_PATH_RESTORED = _t("alarm_path.restored", AlarmPathState,
                         "The centre's receiver acknowledges again.")
COMMAND_AUDIT = _t("audit.command", CommandAudit, "A command was accepted, denied or failed.")
ACCESS_GRANTED = _t("access.granted", AccessDecisionFact, "A credential was let through a gate.")
ACCESS_DENIED = _t("access.denied", AccessDecisionFact, "A credential was refused, with why.")
READER_TAMPER = _t("access.reader_tamper", ReaderFact, "A reader or controller was opened.")
READER_TAMPER_RESTORED = _t("access.reader_tamper_restored", ReaderFact,
                            "The reader's tamper switch is closed again.")
READER_POWER_FAULT = _t("access.reader_power_fault", ReaderFact, "A reader reports a power fault.")
READER_POWER_RESTORED = _t("access.reader_power_restored", ReaderFact,
                           "The reader's power is normal again.")
READER_SC_DESYNC = _t("access.reader_sc_desync", ReaderFact,
                      "A reader's secure channel fails after it worked (its key changed behind "
                      "the gateway's back, or its sessions keep breaking).")
READER_SC_RESTORED = _t("access.reader_sc_restored", ReaderFact,
                        "The reader has a secure session with the gateway again.")
GATE_MODE = _t("access.gate_mode", GateModeChange,
               "A gate changed mode (lockdown, fire release, free passage, normal).")
CREDENTIALS_SYNCED = _t("access.credentials_synced", CredentialSync,
                        "The credential list changed; its new version.")
DOOR_OPENED = _t("door.opened", DoorFact, "A door's contact opened.")
DOOR_CLOSED = _t("door.closed", DoorFact, "A door's contact closed.")
DOOR_EXIT_REQUEST = _t("door.exit_request", DoorFact, "The request-to-exit button was pressed.")
DOOR_FORCED = _t("door.forced", DoorFact, "A door opened without a grant or an exit request.")
DOOR_HELD_OPEN = _t("door.held_open", DoorFact, "A door stayed open longer than its limit.")
DOOR_SECURED = _t("door.secured", DoorFact, "A forced or held door is closed again.")
STUDENT_ARRIVED = _t("student.arrived", PresenceFact, "A student's first entry of the day.")
STUDENT_DEPARTED = _t("student.departed", PresenceFact, "A student left campus (last exit so far).")
VISITOR_REGISTERED = _t("visitor.registered", VisitFact, "A visit was registered; a pass issued.")
VISITOR_ENTERED = _t("visitor.entered", VisitFact, "A visitor came in through a gate.")
VISITOR_LEFT = _t("visitor.left", VisitFact, "A visitor went out through a gate.")
VISITOR_OVERSTAYED = _t("visitor.overstayed", VisitFact,
                        "A visitor is still on campus after the visit's window.")
VISITOR_CLOSED = _t("visitor.closed", VisitFact, "A visit was closed; its pass opens nothing.")
CAMERA_EVENT = _t("camera.event", CameraFact,
                  "A camera reported an event (motion, tamper, line crossed, field, digital "
                  "input, image quality, or a topic of its own): ``kind`` and ``active`` say "
                  "which.")
CAMERA_STATUS = _t("camera.status", CameraStatus, "How the gateway reaches a camera changed.")
CAMERA_SNAPSHOT = _t("camera.snapshot", MediaReference, "A snapshot was stored.")
CAMERA_CLIP = _t("camera.clip", MediaReference, "A pre/post-alarm clip was stored.")
CAMERA_PTZ = _t("camera.ptz", PtzMove, "A camera was sent to a PTZ preset.")
VIDEO_RAISED = _t("video.raised", AnalyticFact, "Video analytics found a condition (camera "
                  "tamper, crowding, intrusion, a line crossed).")
VIDEO_CLEARED = _t("video.cleared", AnalyticFact, "A video analytics condition ended.")

CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in (
        PANIC_PRESSED,
        PANIC_RELEASED,
        LINE_FAULT,
        LINE_RESTORED,
        TAMPER,
        TAMPER_RESTORED,
        DEVICE_ONLINE,
        DEVICE_OFFLINE,
        DEVICE_FLOODING,
        DEVICE_FLOOD_ENDED,
        OUTPUT_CHANGED,
        ALARM_RAISED,
        ALARM_REACTIVATED,
        ALARM_RETURNED,
        ALARM_ACKNOWLEDGED,
        ALARM_CLOSED,
        ALARM_ESCALATED,
        ALARM_REPORTED,
        ALARM_REPORT_OVERDUE,
        ALARM_POLICE_CALLED,
        DRILL_STARTED,
        DRILL_STOPPED,
        FIRE_ALARM,
        FIRE_PRE_ALARM,
        FIRE_FAULT,
        FIRE_SUPERVISORY,
        FIRE_SHIELDED,
        FIRE_POWER_FAULT,
        FIRE_RESTORED,
        FIRE_PANEL_RESET,
        FIRE_SILENCED,
        FIRE_OPERATION,
        LINKAGE_EXECUTED,
        EVENTS_DROPPED,
        MESSAGE_SET_ASIDE,
        STORAGE_FULL,
        STORAGE_OK,
        ALARM_PATH_FAILED,
        ALARM_PATH_RESTORED,
        COMMAND_AUDIT,
        ACCESS_GRANTED,
        ACCESS_DENIED,
        READER_TAMPER,
        READER_TAMPER_RESTORED,
        READER_POWER_FAULT,
        READER_POWER_RESTORED,
        READER_SC_DESYNC,
        READER_SC_RESTORED,
        GATE_MODE,
        CREDENTIALS_SYNCED,
        DOOR_OPENED,
        DOOR_CLOSED,
        DOOR_EXIT_REQUEST,
        DOOR_FORCED,
        DOOR_HELD_OPEN,
        DOOR_SECURED,
        STUDENT_ARRIVED,
        STUDENT_DEPARTED,
        VISITOR_REGISTERED,
        VISITOR_ENTERED,
        VISITOR_LEFT,
        VISITOR_OVERSTAYED,
        VISITOR_CLOSED,
        CAMERA_EVENT,
        CAMERA_STATUS,
        CAMERA_SNAPSHOT,
        CAMERA_CLIP,
        CAMERA_PTZ,
        VIDEO_RAISED,
        VIDEO_CLEARED,
    )
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One normalised fact. ``subject`` is the point or alarm the event is about, if any."""

    type: EventType
    device_id: str
    payload: Payload
    severity: Severity = Severity.INFO
    subject: str | None = None
    time: datetime = field(default_factory=utcnow)
    reading: str | None = None
    """The device's own identity of the reading this fact came from (its serial number, or a
    digest of its time and content): a retry of a reading already accepted makes no new event."""
    device_time: datetime | None = None
    """Set by the intake when the device's time was outside the sane window around the
    gateway's clock: ``time`` is then the receipt time, and this what the device said."""
    truncated: tuple[str, ...] = ()
    """Payload fields the intake cut to the event's bounds (``source``, ``description``...)."""

    @property
    def life_safety(self) -> bool:
        """Life-safety events jump the outbox queue when there is a backlog."""
        return self.type.life_safety or self.severity is Severity.CRITICAL


# Which fact type reports which fire condition becoming active.
FIRE_RAISING: dict[str, EventType] = {
    "fire": FIRE_ALARM,
    "pre_alarm": FIRE_PRE_ALARM,
    "fault": FIRE_FAULT,
    "supervisory": FIRE_SUPERVISORY,
    "shielded": FIRE_SHIELDED,
    "power_fault": FIRE_POWER_FAULT,
}
FIRE_SEVERITY: dict[str, Severity] = {
    "fire": Severity.CRITICAL,
    "pre_alarm": Severity.MAJOR,
    "fault": Severity.MAJOR,
    "supervisory": Severity.MINOR,
    "shielded": Severity.MINOR,
    "power_fault": Severity.MAJOR,
}


def fire_event(device_id: str, fact: FireFact, active: bool,
               time: datetime | None = None) -> Event:
    """The event a fire driver emits when ``fact.condition`` becomes active or clears."""
    return Event(
        type=FIRE_RAISING[fact.condition] if active else FIRE_RESTORED,
        device_id=device_id,
        payload=fact,
        severity=FIRE_SEVERITY[fact.condition] if active else Severity.INFO,
        subject=fact.point,
        time=time or utcnow(),
    )
