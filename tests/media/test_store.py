"""The media store: ids, hashes, file modes, caps (size, age, oldest non-alarm first), recovery."""

from __future__ import annotations

import asyncio
import hashlib
import stat
import uuid
from pathlib import Path

import pytest

from gateway.config import SiteConfig
from gateway.media import Media, MediaRefused, MediaStore, base_url_of

MIB = 1024 * 1024
KIB = 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def store(tmp_path: Path, clock: Clock | None = None, open_alarms: set[str] | None = None,
          **caps: float) -> MediaStore:
    config = Media.model_validate({"max_bytes": 1 * MIB, "max_item_bytes": 256 * KIB, **caps})
    return MediaStore(tmp_path / "media", config, "https://gw.example:8443",
                      open_alarms=(lambda: open_alarms or set()), clock=clock or Clock())


def blob(size: int, seed: int = 0) -> bytes:
    return bytes([seed % 256]) * size


def test_an_item_has_a_time_ordered_id_its_hash_and_a_private_file(tmp_path: Path) -> None:
    media = store(tmp_path)
    first = asyncio.run(media.keep("cam", "snapshot", b"\xff\xd8jpeg-1", "image/jpeg",
                                   alarm_id="alm-1"))
    second = asyncio.run(media.keep("cam", "snapshot", b"\xff\xd8jpeg-2", "image/jpeg"))
    assert uuid.UUID(first.media_id).version == 7 and first.media_id < second.media_id
    assert first.sha256 == hashlib.sha256(b"\xff\xd8jpeg-1").hexdigest()
    assert (first.size, first.content_type, first.camera, first.alarm_id) == (
        8, "image/jpeg", "cam", "alm-1")
    assert first.url == f"https://gw.example:8443/media/{first.media_id}"
    item = media.get(first.media_id)
    assert item is not None and item.path.read_bytes() == b"\xff\xd8jpeg-1"
    assert item.path.suffix == ".jpg"
    for path in (item.path, tmp_path / "media" / "index.sqlite3"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "media").stat().st_mode) == 0o700
    assert media.get(str(uuid.uuid4())) is None and media.get("../index.sqlite3") is None


def test_a_file_is_moved_in(tmp_path: Path) -> None:
    media = store(tmp_path)
    clip = tmp_path / "clip.avi"
    clip.write_bytes(blob(5000, 7))
    reference = asyncio.run(media.keep("cam", "clip", clip, "video/x-msvideo", seconds=4.0,
                                       pre_seconds=2.0))
    assert not clip.exists()
    item = media.get(reference.media_id)
    assert item is not None and item.path.read_bytes() == blob(5000, 7)
    assert reference.sha256 == hashlib.sha256(blob(5000, 7)).hexdigest()
    assert (reference.seconds, reference.pre_seconds) == (4.0, 2.0)


def test_an_item_over_max_item_bytes_is_refused(tmp_path: Path) -> None:
    media = store(tmp_path)
    with pytest.raises(MediaRefused, match="max_item_bytes"):
        asyncio.run(media.keep("cam", "snapshot", blob(256 * KIB + 1), "image/jpeg"))
    assert media.items() == []


def test_over_max_bytes_the_oldest_non_alarm_media_goes_first(tmp_path: Path) -> None:
    clock = Clock()
    media = store(tmp_path, clock)
    kept = []
    for n, alarm in enumerate(["alm-a", None, "alm-b", None, None]):
        clock.now += 1
        kept.append(media.keep_now("cam", "snapshot", blob(240 * KIB, n), "image/jpeg",
                                   alarm_id=alarm))
    # 5 x 240 KiB > 1 MiB: the oldest without an alarm (the second) went, alarms stayed
    ids = [i.media_id for i in media.items()]
    assert ids == [kept[0].media_id, kept[2].media_id, kept[3].media_id, kept[4].media_id]
    assert media.total_bytes <= MIB
    assert not kept[1].path.exists()
    # only alarm media left beside the new one: the oldest alarm item goes next
    for n in range(3):
        clock.now += 1
        media.keep_now("cam", "snapshot", blob(240 * KIB, 10 + n), "image/jpeg",
                       alarm_id=f"alm-{n}")
    assert [i.alarm_id for i in media.items()] == ["alm-b", "alm-0", "alm-1", "alm-2"]


def test_media_of_an_open_alarm_is_never_deleted(tmp_path: Path) -> None:
    clock = Clock()
    media = store(tmp_path, clock, open_alarms={"alm-open"})
    item = asyncio.run(media.keep("cam", "snapshot", blob(250 * KIB, 1), "image/jpeg",
                                  alarm_id="alm-open"))
    for n in range(6):
        clock.now += 1
        asyncio.run(media.keep("cam", "snapshot", blob(250 * KIB, n + 2), "image/jpeg",
                               alarm_id=f"alm-{n}"))
    assert media.get(item.media_id) is not None
    clock.now += 40 * 86400  # far past max_age
    assert media.prune(open_alarms={"alm-open"}) >= 1
    assert [i.alarm_id for i in media.items()] == ["alm-open"]


def test_items_older_than_max_age_go(tmp_path: Path) -> None:
    clock = Clock()
    media = store(tmp_path, clock, max_age=3600)
    old = media.keep_now("cam", "snapshot", blob(10), "image/jpeg")
    clock.now += 1800
    middle = media.keep_now("cam", "snapshot", blob(10), "image/jpeg")
    clock.now += 1801
    new = media.keep_now("cam", "snapshot", blob(10), "image/jpeg")
    assert [i.media_id for i in media.items()] == [middle.media_id, new.media_id]
    assert media.get(old.media_id) is None and not old.path.exists()


def test_a_restart_forgets_rows_without_files_and_files_without_rows(tmp_path: Path) -> None:
    media = store(tmp_path)
    kept = media.keep_now("cam", "snapshot", blob(10, 1), "image/jpeg")
    lost = media.keep_now("cam", "snapshot", blob(10, 2), "image/jpeg")
    lost.path.unlink()
    stray = kept.path.with_name("stray.jpg")
    stray.write_bytes(b"x")
    partial = kept.path.with_name(".half.jpg.partial")
    partial.write_bytes(b"x")
    media.close()
    again = store(tmp_path)
    assert [i.media_id for i in again.items()] == [kept.media_id]
    assert not stray.exists() and not partial.exists()


def test_urls_default_to_the_console_address(tmp_path: Path) -> None:
    site = SiteConfig.model_validate({
        "site": {"id": "s1"}, "gateway": {"id": "gw1", "state_dir": str(tmp_path)},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "console": {"listen": {"host": "127.0.0.1", "port": 8443}}})
    assert base_url_of(site.console) == "http://127.0.0.1:8443"
    chosen = MediaStore(tmp_path / "m", Media(base_url="https://media.school.example/"),
                        base_url_of(site.console))
    assert chosen.url_for("x") == "https://media.school.example/media/x"


def test_an_alarms_media_are_found_by_its_id_oldest_first(tmp_path: Path) -> None:
    media = store(tmp_path)
    first = media.keep_now("gate-cam", "snapshot", blob(2000, 1), "image/jpeg", alarm_id="alm-1")
    media.keep_now("gate-cam", "snapshot", blob(2000, 2), "image/jpeg", alarm_id="alm-2")
    clip = media.keep_now("gate-cam", "clip", blob(5000, 3), "video/webm", alarm_id="alm-1")
    media.keep_now("gate-cam", "snapshot", blob(2000, 4), "image/jpeg")
    found = media.for_alarm("alm-1")
    assert [m.media_id for m in found] == [first.media_id, clip.media_id]
    assert found[1].path.suffix == ".webm"  # a browser-playable clip keeps its kind
    clip.path.unlink()  # a file gone from the disk is not offered
    assert [m.media_id for m in media.for_alarm("alm-1")] == [first.media_id]
    assert media.for_alarm("alm-9") == []
