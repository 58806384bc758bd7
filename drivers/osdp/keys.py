"""Where a reader's key lives when it is rotated: the key file the site file names, the next key
the installer puts beside it (``<key file>.next``), and the key file replaced by the new key.

The new key never travels in a command: the command names the reader, the key is read here from
a file only the gateway's user can read. A key from the environment cannot be rotated: the
gateway cannot write its own environment back, and after a restart the old key would be read
again while the reader holds the new one.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from drivers.osdp.models import parse_key
from gateway.kernel.fields import Secret

KEY_FILE_LIMIT = 256  # a key file holds 32 hex digits (and perhaps separators and a newline)


class KeyFileError(Exception):
    """The next key cannot be used or the key file cannot be written; the message names the
    file and what is wrong with it, never the key."""


def next_key_path(secret: Secret, reader: str) -> Path:
    """The file the reader's next key is read from, or why this reader's key cannot rotate."""
    if secret.file is None:
        raise KeyFileError(
            f"reader {reader}: its key comes from the environment variable {secret.env}, which "
            "the gateway cannot write back; move the key to a file (key: {file: ...}, mode "
            "0600), restart the gateway, then rotate")
    return secret.file.with_name(secret.file.name + ".next")


def read_next_key(path: Path) -> bytes:
    """The new key from ``path``: 32 hex digits in a file no other user can read."""
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read(KEY_FILE_LIMIT + 1)
    except FileNotFoundError:
        raise KeyFileError(f"no new key: {path} does not exist (write the new key there, "
                           "mode 0600)") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the new key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the new key file {path} can be read by other users (mode "
                           f"{stat.S_IMODE(mode):04o}); chmod 600 it")
    if len(raw) > KEY_FILE_LIMIT:
        raise KeyFileError(f"the new key file {path} holds more than {KEY_FILE_LIMIT} bytes")
    try:
        return parse_key(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        why = "it is not ASCII" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise KeyFileError(f"the new key file {path} is not a usable key: {why}") from None


def replace_key_file(path: Path, key: bytes, retired: Path) -> None:
    """Write ``key`` into ``path`` atomically (a mode 0600 file beside it, renamed over it) and
    remove the next key file ``retired``: the site file's secret is the new key from now on."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, key.hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise KeyFileError(f"cannot write the key file {path}: {exc.strerror}") from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(retired)
