"""A null-modem cable made of two pseudo-terminals, so RTU devices need no serial hardware.

A pty has one master and one slave end. The simulated module opens the slave of one pty, the
gateway opens the slave of the other (through a symlink at the path the site file names, e.g.
``/tmp/ttyCAMPUS0``), and the two masters are joined by copying bytes both ways. Unplugging the
gateway side closes its pty, so a gateway that has the port open sees the device vanish exactly
as when a USB-RS485 adapter is pulled, and opening the path fails until it is plugged back in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from dataclasses import dataclass
from pathlib import Path

from simulators.simulator import StartError

log = logging.getLogger(__name__)

PTY_PREFIX = "/dev/pts/"


@dataclass
class _Pty:
    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> _Pty:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class PtyRelay:
    """Joins a module-side pty to a pluggable gateway-side pty published at ``link``."""

    def __init__(self, link: str | Path) -> None:
        self.link = Path(link)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._module: _Pty | None = None
        self._gateway: _Pty | None = None

    @property
    def module_port(self) -> str:
        """Serial device path the simulated module opens."""
        if self._module is None:
            raise RuntimeError("relay is not open")
        return self._module.path

    @property
    def plugged(self) -> bool:
        return self._gateway is not None

    def open(self) -> None:
        """Create the module side; it stays for the relay's lifetime so the module never resets."""
        self._check_link_path()
        self._loop = asyncio.get_running_loop()
        self._module = _Pty.open()
        self._loop.add_reader(self._module.master, self._from_module)

    def plug(self) -> None:
        """Create the gateway side and publish it at the configured path."""
        if self._gateway is not None or self._loop is None:
            return
        self._check_link_path()
        self._gateway = _Pty.open()
        self._remove_link()
        os.symlink(self._gateway.path, self.link)
        self._loop.add_reader(self._gateway.master, self._from_gateway)

    def unplug(self) -> None:
        """Remove the published path and close the gateway side, as if the cable were pulled."""
        self._remove_link()
        if self._gateway is None or self._loop is None:
            return
        self._loop.remove_reader(self._gateway.master)
        self._gateway.close()
        self._gateway = None

    def close(self) -> None:
        self.unplug()
        if self._module is not None and self._loop is not None:
            self._loop.remove_reader(self._module.master)
            self._module.close()
        self._module = None

    def _from_module(self) -> None:
        assert self._module is not None
        data = self._read(self._module.master)
        if data and self._gateway is not None:
            self._write(self._gateway.master, data)

    def _from_gateway(self) -> None:
        assert self._gateway is not None and self._module is not None
        data = self._read(self._gateway.master)
        if data:
            self._write(self._module.master, data)

    @staticmethod
    def _read(fd: int) -> bytes:
        try:
            return os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            # EIO while nobody holds the slave open; we hold both slaves, so this is transient.
            return b""

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            # A full pty buffer means the far side stopped reading: a real line drops the bytes too.
            log.debug("pty relay dropped %d bytes", len(data))

    def _check_link_path(self) -> None:
        if not self.link.parent.is_dir():
            raise StartError(
                f"cannot create serial link {self.link}: {self.link.parent} is not a directory"
            )
        if (self.link.exists() or self.link.is_symlink()) and not self._is_our_link():
            raise StartError(
                f"cannot create serial link {self.link}: the path exists and is not a"
                " simulator link to a pseudo-terminal; remove it or use another rtu.port"
            )

    def _is_our_link(self) -> bool:
        return self.link.is_symlink() and os.readlink(self.link).startswith(PTY_PREFIX)

    def _remove_link(self) -> None:
        if self._is_our_link():
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
