"""Credential files as a school office exports them, read a row at a time and cut into parts.

A file is a CSV (or Excel's tab-separated "Unicode text") with one card per row
(``person_id,category,code`` and optional ``name``, ``status``, ``valid_from``, ``valid_until``,
``gates`` separated by ``;``, ``schedule``, ``pin``; lines starting with ``#`` are comments), or
JSON ``{persons: [...], credentials: [...]}``.

Its encoding: a byte order mark says UTF-8 or UTF-16; without one the file must decode as UTF-8,
or else as GB18030 (what Excel writes as "CSV" on a Chinese Windows: GBK and GB2312 are part of
it). Anything else (a Latin-1 file, a UTF-8 file cut in a character) is refused with the line and
byte offset where it stopped decoding: a guessed encoding would put wrong names on the roll call.

``CredentialFile`` reads the whole file once, checking every row (the first wrong one is named
by file and line, before anything is sent), and spools it as snapshot parts of at most
``PART_BYTES`` of JSON each to a temporary file: a list of a million cards is sent part by part
and never held in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from gateway.access.credentials import MAX_PARTS, CredentialRecord, PersonRecord, SyncError
from gateway.kernel.boundary import BoundaryError, parse_json

# A part's persons and credentials as the command line sends them (json.dumps, ASCII-escaped):
# with the request around them (id, times, operator, token) well under the 64 KiB of a request.
PART_BYTES = 60_000
MAX_JSON_FILE = 256 * 1024 * 1024  # a JSON file is parsed whole; a CSV file is streamed
CHUNK = 1 << 20
NEED = ("person_id", "category", "code")

Progress = Callable[[int, int], None]  # (bytes read, bytes in the file)


def detect_encoding(path: Path) -> str:
    """The codec to read ``path`` with, or a SyncError naming where it does not decode."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    failure = _first_undecodable(path, "utf-8")
    if failure is None:
        return "utf-8"
    if _first_undecodable(path, "gb18030") is None:
        return "gb18030"
    line, offset, byte = failure
    raise SyncError(f"{path}: line {line}, byte offset {offset} (0x{byte:02X}): neither UTF-8 "
                    "nor GB18030; save the file as UTF-8 (Excel: \"CSV UTF-8\") and import it "
                    "again")


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """(line, byte offset, byte) where ``path`` stops decoding as ``encoding``, or None."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset, line = 0, 1
    with path.open("rb") as f:
        while True:
            chunk = f.read(CHUNK)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # the decoder saw the bytes it held back from the last chunk, then this one
                data = pending + chunk
                at = min(exc.start, len(data) - 1)
                return (line + data[len(pending):at].count(b"\n"), offset - len(pending) + at,
                        data[at])
            if not chunk:
                return None
            line += chunk.count(b"\n")
            offset += len(chunk)


def _record(model: type[BaseModel], value: Any) -> dict[str, Any]:
    """The record checked, as sent: what the gateway would take as default is left out."""
    return model.model_validate(value).model_dump(mode="json", exclude_none=True,
                                                  exclude_defaults=True)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


class CredentialFile:
    """A credential file read and checked, its snapshot parts spooled to a temporary file."""

    def __init__(self, path: Path, progress: Progress | None = None,
                 part_bytes: int = PART_BYTES) -> None:
        self.path = path
        self.rows = 0
        self.persons = 0
        self.credentials = 0
        self.parts = 0
        self._part_bytes = part_bytes
        self._progress = progress or (lambda _done, _total: None)
        # open for the life of the object (its parts are read when sent); close() ends it
        self._spool: IO[str] = tempfile.TemporaryFile("w+", encoding="ascii")  # noqa: SIM115
        self._open: tuple[list[str], list[str], int] = ([], [], 0)  # persons, cards, bytes
        try:
            self._size = path.stat().st_size
            encoding = detect_encoding(path)
            if path.suffix.lower() == ".json":
                self._read_json(encoding)
            else:
                self._read_csv(encoding)
            self._cut()
        except OSError as exc:
            self.close()
            raise SyncError(f"{path}: {exc.strerror}") from None
        except SyncError:
            self.close()
            raise
        self._progress(self._size, self._size)

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> CredentialFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def snapshot_parts(self, version: int) -> Iterator[dict[str, Any]]:
        """The ``credentials.snapshot`` arguments of each part, in order."""
        self._spool.seek(0)
        for n, line in enumerate(self._spool, start=1):
            yield {"version": version, "part": n, "parts": self.parts, **json.loads(line)}

    # -- reading -----------------------------------------------------------------------------

    def _read_json(self, encoding: str) -> None:
        raw = self.path.read_bytes()
        try:
            doc = parse_json(raw.decode(encoding), what=str(self.path), max_bytes=MAX_JSON_FILE)
        except BoundaryError as exc:
            raise SyncError(str(exc)) from None
        if not isinstance(doc, dict):
            raise SyncError(f"{self.path}: expected an object with persons and credentials")
        for key, model in (("persons", PersonRecord), ("credentials", CredentialRecord)):
            items = doc.get(key, [])
            if not isinstance(items, list):
                raise SyncError(f"{self.path}: {key}: expected a list")
            for n, item in enumerate(items):
                try:
                    record = _record(model, item)
                except ValidationError as exc:
                    raise SyncError(f"{self.path}: {key}[{n}].{_problem(exc)}") from None
                self._add(record, key == "persons")

    def _read_csv(self, encoding: str) -> None:
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, newline="")
            where = [0]  # the physical line last read: errors name the line of the file

            def lines() -> Iterator[str]:
                for where[0], line in enumerate(text, start=1):
                    if not line.lstrip().startswith("#"):
                        yield line
                    if where[0] % 10_000 == 0:
                        self._progress(raw.tell(), self._size)

            rows = lines()
            first = next(rows, "")
            # Excel's "Unicode text" (UTF-16) separates with tabs
            tabs = "\t" in first and "," not in first
            reader = csv.reader(itertools.chain([first], rows), delimiter="\t" if tabs else ",")
            header = [h.strip() for h in next(reader, [])]
            if not set(NEED) <= set(header):
                raise SyncError(f"{self.path}: the header must name {', '.join(NEED)} "
                                f"(has {header})")
            persons: set[str] = set()
            codes: set[str] = set()
            for row in reader:
                self._row(dict(zip(header, row, strict=False)), where[0], persons, codes)

    def _row(self, row: dict[str, str], line: int, persons: set[str], codes: set[str]) -> None:
        def get(key: str) -> str | None:
            return (row.get(key) or "").strip() or None

        if not any(v.strip() for v in row.values()):
            return  # a blank line, as Excel leaves at the end
        try:
            person = _record(PersonRecord, {
                "id": get("person_id") or "", "category": get("category"), "name": get("name"),
                "schedule": get("schedule"),
                "gates": [g for g in (get("gates") or "").split(";") if g],
                "valid_from": get("valid_from"), "valid_until": get("valid_until")})
            card = _record(CredentialRecord, {
                "code": get("code") or "", "person_id": person["id"],
                "status": get("status") or "active", "pin": get("pin")})
        except ValidationError as exc:
            raise SyncError(f"{self.path}: line {line}: {_problem(exc)}") from None
        if card["code"] in codes:
            raise SyncError(f"{self.path}: line {line}: card {card['code']} is on an earlier "
                            "line too")
        codes.add(card["code"])
        self.rows += 1
        if person["id"] not in persons:  # a person with several cards: the first row's
            persons.add(person["id"])
            self._add(person, True)
        self._add(card, False)

    # -- cutting into parts ------------------------------------------------------------------

    def _add(self, record: dict[str, Any], is_person: bool) -> None:
        text = json.dumps(record)
        persons, cards, size = self._open
        if size + len(text) + 2 > self._part_bytes and (persons or cards):
            self._cut()
            persons, cards, size = self._open
        (persons if is_person else cards).append(text)
        self._open = (persons, cards, size + len(text) + 2)  # and ", " between records
        if is_person:
            self.persons += 1
        else:
            self.credentials += 1

    def _cut(self) -> None:
        persons, cards, _size = self._open
        if not (persons or cards) and self.parts:
            return
        if self.parts >= MAX_PARTS:
            raise SyncError(f"{self.path}: more than {MAX_PARTS} parts of {self._part_bytes} "
                            "bytes: larger than a credential list the gateway takes")
        self._spool.write(f'{{"persons": [{", ".join(persons)}], '
                          f'"credentials": [{", ".join(cards)}]}}\n')
        self.parts += 1
        self._open = ([], [], 0)
