"""Credential files as school offices export them: their encodings, their size, their parts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.access.credentials import MAX_PARTS, CredentialStore, Snapshot, SyncError
from gateway.access.imports import CredentialFile, detect_encoding
from gateway.commands import MAX_REQUEST_BYTES
from gateway.progress import Progress

HEADER = "person_id,category,code,name,gates\n"
ROWS = "S001,student,1001,王小明,main-gate\nS002,student,1002,李华,\nT001,staff,2001,José Núñez,\n"


def names(path: Path) -> list[str | None]:
    with CredentialFile(path) as file:
        return [p.get("name") for part in file.snapshot_parts(1) for p in part["persons"]]


def test_the_encodings_excel_writes_are_read_and_others_refused(tmp_path: Path) -> None:
    expected = ["王小明", "李华", "José Núñez"]
    for encoding, bom in (("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"),
                          ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")):
        path = tmp_path / f"cards-{encoding}-{len(bom)}.csv"
        path.write_bytes(bom + (HEADER + ROWS).encode(encoding))
        assert names(path) == expected, (encoding, bom)
    # Excel's "Unicode text": UTF-16 with its BOM, tab-separated
    tabbed = tmp_path / "cards.txt"
    tabbed.write_bytes(b"\xff\xfe" + (HEADER + ROWS).replace(",", "\t").encode("utf-16-le"))
    assert names(tabbed) == expected
    # Excel on a Chinese Windows: "CSV (comma delimited)" is GB18030/GBK, no BOM
    gbk = tmp_path / "cards-gbk.csv"
    gbk.write_bytes((HEADER + "S001,student,1001,王小明,main-gate\nS002,student,1002,李华,\n"
                     ).encode("gbk"))
    assert detect_encoding(gbk) == "gb18030"
    assert names(gbk) == ["王小明", "李华"]
    # a Latin-1 file is neither: refused with the line and the byte that did not decode
    latin = tmp_path / "cards-latin1.csv"
    content = (HEADER + "T001,staff,2001,Ms Chen,\nT002,staff,2002,José,\n").encode("latin-1")
    latin.write_bytes(content)
    offset = content.index(b"\xe9")
    with pytest.raises(SyncError, match=rf"cards-latin1\.csv: line 3, byte offset {offset} "
                                        r"\(0xE9\): neither UTF-8 nor GB18030"):
        CredentialFile(latin)
    # a file cut after the first byte of its last character
    cut = tmp_path / "cut.csv"
    cut.write_bytes((HEADER + "S001,student,1001,王").encode()[:-2])
    with pytest.raises(SyncError, match=r"cut\.csv: line 2, byte offset \d+ \(0xE7\)"):
        CredentialFile(cut)


def test_rows_are_checked_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "cards.csv"
    path.write_text(HEADER + "# exported 2026-09-01\n" + ROWS + "\n,,,,\n"
                    "S001,student,1003,,\n", encoding="utf-8")
    with CredentialFile(path) as file:
        assert (file.rows, file.persons, file.credentials) == (4, 3, 4)
    path.write_text(HEADER + "# a comment keeps the line numbers right\n" + ROWS
                    + "S003,student,1002,,\n", encoding="utf-8")
    with pytest.raises(SyncError, match=r"cards\.csv: line 6: card 1002 is on an earlier line"):
        CredentialFile(path)
    path.write_text(HEADER + ROWS + "S004,pupil,1004,,\n", encoding="utf-8")
    with pytest.raises(SyncError, match=r"cards\.csv: line 5: category"):
        CredentialFile(path)


def test_every_part_fits_in_one_request_whatever_the_names(tmp_path: Path) -> None:
    path = tmp_path / "cards.csv"
    rows = [f"student-{n:08d},student,{n:010d},{'名字' * 60},main-gate;east-gate\n"
            for n in range(3000)]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    with CredentialFile(path) as file:
        assert file.parts > 10
        for part in file.snapshot_parts(123456):
            body = {"id": "x" * 32, "issued_at": "2026-12-01T00:00:00.000000+00:00",
                    "expires_at": "2026-12-01T00:05:00.000000+00:00", "operator": "o" * 64,
                    "token": "t" * 256, "name": "credentials.snapshot", "args": part}
            assert len(json.dumps(body).encode()) < MAX_REQUEST_BYTES


def test_a_list_of_more_than_a_thousand_parts_is_taken_whole(tmp_path: Path) -> None:
    # parts of 1,500 bytes: 20,000 rows make more than the 1,000 parts a snapshot once had
    path = tmp_path / "cards.csv"
    path.write_text(HEADER + "".join(f"S{n:06d},student,{1_000_000 + n},,\n"
                                     for n in range(20_000)), encoding="utf-8")
    seen: list[tuple[int, int]] = []
    with CredentialFile(path, progress=lambda done, total: seen.append((done, total)),
                        part_bytes=1_500) as file:
        assert 1000 < file.parts <= MAX_PARTS
        parts = [Snapshot.model_validate(p) for p in file.snapshot_parts(7)]
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size

    async def scenario() -> None:
        store = CredentialStore(tmp_path)
        for part in parts[:-1]:
            assert not (await store.snapshot(part)).complete
        await store.snapshot(parts[500])  # a part sent again is harmless
        applied = await store.snapshot(parts[-1])
        assert applied.complete and (applied.persons, applied.credentials) == (20_000, 20_000)
        assert store.version == 7 and store.holder("1019999").person_id == "S019999"
        store.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_a_snapshot_naming_nobody_is_refused_whole(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CredentialStore(tmp_path)
        first = Snapshot.model_validate({"version": 2, "part": 1, "parts": 2,
                                         "persons": [{"id": "a", "category": "staff"}]})
        second = Snapshot.model_validate({"version": 2, "part": 2, "parts": 2, "credentials": [
            {"code": "1", "person_id": "a"}, {"code": "2", "person_id": "ghost"}]})
        await store.snapshot(first)
        with pytest.raises(SyncError, match=r"1 credential.s. name no person: ghost"):
            await store.snapshot(second)
        assert store.version == 0 and store.holder("1") is None
        store.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


class Screen:
    """A stream that says it is a terminal (or not), and keeps what was written."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    log = Screen(tty=False)
    progress = Progress("cards.csv: sending", 40, "parts", stream=log)  # type: ignore[arg-type]
    for _ in range(40):
        progress.step()
    progress.close()
    lines = log.text.splitlines()
    assert "\r" not in log.text
    assert lines[0] == "cards.csv: sending: 2% (1 of 40 parts)"
    assert lines[-1] == "cards.csv: sending: 100% (40 of 40 parts)"
    assert len(lines) == 11  # one at each tenth
    screen = Screen(tty=True)
    progress = Progress("cards.csv: sending", 40, "parts", stream=screen)  # type: ignore[arg-type]
    for _ in range(40):
        progress.step()
    progress.close()
    assert screen.text.count("\r") == 40 and screen.text.endswith("\n")
    assert "[##############################] 100% 40/40 parts" in screen.text
