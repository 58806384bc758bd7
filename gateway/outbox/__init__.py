"""The durable outbox: nothing leaves the box without first being committed to SQLite.

A message is *accepted* once its row is committed; it is deleted only after the broker's PUBACK.
One thread owns the database (WAL mode) and hands rows to the MQTT transport in a bounded window,
from two lanes (``lanes``: life-safety first, fair between devices, each device's order kept).
Each commit (new rows, state writes and the deletes of acknowledged rows: one transaction, one
fsync) is followed at once by a hand-over. paho keeps the handed rows in memory and resends them
after a reconnect; after a crash every row left in the database is sent again, so a subscriber
sees each accepted message at least once, in order within a device, a duplicate only with the
same id. A full disk moves the outbox into memory until the disk has room (``outbox``); a
message that cannot be published is set aside, never a lane's end (``aside``).

The same database keeps the gateway's own state (``store``: the alarm store, the drill, the ids
of requests already carried out). A change to that state and the messages that announce it are
put inside one ``unit()`` and committed in one transaction, so after any crash either both are
there or neither: the alarm store never believes in an alarm the stream was not told about.

Modules: ``store`` (the database, its tables, a message and its row), ``lanes`` (which rows go
next), ``aside`` (what cannot be published or written), ``outbox`` (the thread: commits,
hand-over, the spill while the disk is full, the caps).
"""

from gateway.outbox.outbox import Outbox, Transport
from gateway.outbox.store import (
    STATE_FILE,
    OutboxStats,
    Outgoing,
    StateWrite,
    Unencodable,
    state_database,
)

__all__ = ["STATE_FILE", "Outbox", "OutboxStats", "Outgoing", "StateWrite", "Transport",
           "Unencodable", "state_database"]
