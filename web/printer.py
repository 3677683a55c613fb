"""Sending a print job to the receipt printer of ``[printer]`` (the bytes: :mod:`web.escpos`).

Two transports: raw TCP (port 9100) for a network printer, with asyncio streams; a device file
(the usblp driver's ``/dev/usb/lp0``) written in a worker thread with a non-blocking descriptor,
so a printer that stops taking data (paper out, cover open) cannot hold the event loop or a
thread for longer than ``write_timeout_ms``.

Failures are :class:`web.errors.WebError` with a stable code: E618 the printer cannot be
reached (off, connection refused, no such device, no answer to the connection), E619 it stopped
answering while the job was sent (the receipt may be partly printed). The caller records the
print only after :func:`send` returned.

"Sent" means the printer (or the kernel's buffer for it) took every byte: ESC/POS has no
acknowledgement, so a printer out of paper that still accepts data is not noticed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import time

from web.config import PrinterConfig
from web.errors import PRINTER_FAILED, PRINTER_NOT_CONFIGURED, PRINTER_UNREACHABLE, WebError

# errno values that mean "no printer there" when opening or writing the device file.
_ABSENT = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EACCES, errno.EPERM})


def _unreachable(config: PrinterConfig, reason: str) -> WebError:
    return WebError(PRINTER_UNREACHABLE, 502, printer=config.target, reason=reason)


def _failed(config: PrinterConfig, reason: str) -> WebError:
    return WebError(PRINTER_FAILED, 502, printer=config.target, reason=reason)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


async def send(config: PrinterConfig, data: bytes) -> None:
    """Deliver one job to the configured printer, or raise E617/E618/E619."""
    if config.kind == "network":
        await send_network(config, data)
    elif config.kind == "device":
        await asyncio.to_thread(write_device, config, data)
    else:
        raise WebError(PRINTER_NOT_CONFIGURED, 409)


async def send_network(config: PrinterConfig, data: bytes) -> None:
    connect_s = config.connect_timeout_ms / 1000
    write_s = config.write_timeout_ms / 1000
    try:
        async with asyncio.timeout(connect_s):
            _, writer = await asyncio.open_connection(config.host, config.port)
    except TimeoutError:
        raise _unreachable(config, f"no answer within {connect_s:g} s") from None
    except OSError as exc:
        raise _unreachable(config, _reason(exc)) from None
    try:
        async with asyncio.timeout(write_s):
            writer.write(data)
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
    except TimeoutError:
        raise _failed(config, f"took no data for {write_s:g} s") from None
    except OSError as exc:
        raise _failed(config, _reason(exc)) from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(connect_s):
                await writer.wait_closed()


def write_device(config: PrinterConfig, data: bytes) -> None:
    """Write ``data`` to the device file (blocking; run it in a thread).

    Opened non-blocking: a FIFO without a reader or an unplugged USB printer fails at once, and
    a printer that stops taking data is given up after ``write_timeout_ms``.
    """
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(config.path, flags)
    except OSError as exc:
        raise _unreachable(config, _reason(exc)) from None
    deadline = time.monotonic() + config.write_timeout_ms / 1000
    view = memoryview(data)
    try:
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno in _ABSENT and len(view) == len(data):
                    raise _unreachable(config, _reason(exc)) from None
                raise _failed(config, _reason(exc)) from None
            view = view[written:]
            if view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _failed(config, f"took no data for {config.write_timeout_ms / 1000:g} s")
                select.select([], [fd], [], remaining)
    finally:
        os.close(fd)
