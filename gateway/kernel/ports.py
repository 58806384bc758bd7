"""The one contract between the gateway and every driver.

Rules every driver keeps:

* **A reply is checked before one bit of it is used.** Function code, length, byte or bit count,
  checksum: whatever the protocol says a well-formed answer to *this* request is. A malformed
  reply is a failed poll (or a rejected frame) with its reason, never a state change; repeated,
  it takes the device offline like silence does.
* **A reading is reported whole.** What one poll or one frame showed goes to ``report`` in one
  call. If it is refused (the device is over its rate limit: it is flooding), the driver keeps
  its state as it was, as if the reading had not happened: the next poll finds the same changes,
  a transmitter that got no ACK sends the frame again. Nothing is half-applied.
* **Acknowledge only what was accepted.** A protocol with its own acknowledgement (GB/T 26875.3)
  answers a frame only once ``accepted()`` says its events are on disk.
* **A gate opens only on a decision.** An access driver asks ``decide`` and gives the feedback
  for the answer; it pulses a lane relay or door strike only for a grant (or an ``open`` action).
  Gate drivers offer the actions ``open`` ``{gate}`` and ``gate_mode`` ``{gate, mode}`` with
  mode ``normal``, ``locked`` or ``free`` and answer ``{gate, mode, confirmed, error}``.
* **Untrusted text goes into log arguments, never into the format string**; the gateway's log
  handler escapes control characters, so a peer cannot forge log lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import Event, MediaReference


class DeviceSink(Protocol):
    """Where a driver hands what it observed. Never blocks; never raises."""

    def report(self, events: Sequence[Event], *, excess: int = 0,
               device: str | None = None) -> bool:
        """Hand over the events of one reading, all or none; False: none were taken.
        ``excess``: items the device sent in this reading past what it was asked for (a camera
        ignoring MessageLimit); unused, they still cost its flood budget like events, charged
        to ``device`` (by default the first event's; name it: a reading may have no events)."""
        ...

    async def accepted(self) -> None:
        """Return once everything reported so far is committed to disk."""
        ...

    def availability(self, device_id: str, online: bool, reason: str) -> None: ...

    def polled(self, device_id: str, seconds: float, error: str | None) -> None:
        """How a poll went (for the gateway's health figures); ``error`` None if it answered."""
        ...

    def active_conditions(self, device_id: str) -> AbstractSet[str]:
        """``point/condition`` keys the gateway believes active (open alarms), for resync."""
        ...

    async def decide(self, request: AccessRequest) -> AccessDecision:
        """A credential presented at a reader: the gateway's decision, its event on disk."""
        ...

    def schedule_allows(self, schedule: str, moment: datetime) -> bool:
        """Whether a schedule of the site file (``access.schedules``) is open at ``moment``;
        pure and thread-safe (video analytics ask from their worker threads)."""
        ...

    async def keep_media(self, camera: str, kind: Literal["snapshot", "clip"],
                         content: bytes | Path, content_type: str, *,
                         alarm_id: str | None = None, captured_at: datetime | None = None,
                         seconds: float | None = None, pre_seconds: float | None = None,
                         source: str = "") -> MediaReference:
        """Store a snapshot or clip (bytes, or a file that is moved in), off the loop; its
        reference, with the URL it is fetched from. The one sink call that may raise
        (``gateway.media.MediaRefused``: too large, no store, the disk refuses); the driver
        reports the reference event itself."""
        ...


class DeviceUnavailable(Exception):
    """The driver cannot run now for a reason it states (its port is taken, its serial line is
    missing); the supervisor logs the reason in one line and starts it again later."""


class ActionError(Exception):
    """A device action that was refused or failed; the message says why, for the operator."""


class Driver(Protocol):
    """One running device. ``run`` returns or raises only when the driver must be restarted."""

    device_id: str

    async def run(self) -> None: ...

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]: ...
