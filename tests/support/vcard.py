"""Virtual smart cards for vpcd: ISO 7816-4 CPU cards (the gateway's blank card, a foreign card,
a State Grid user card) and an SLE4442 memory card behind ACS pseudo-APDUs. Stdlib only.

A card is a TCP client of vpcd (port 35963 = reader "Virtual PCD 00 00", 35964 = "... 00 01"):
connecting inserts it, closing removes it. Its files / memory live on the Python object, so a test
can write the card at one reader, ``remove()`` it and ``insert()`` it at the other.

vpcd frames every message as a 2-byte big-endian length + payload. A 1-byte payload is a control
(00 power off, 01 power on, 02 reset, 04 send ATR); anything longer is a C-APDU, answered with
the R-APDU (data + SW1 SW2).
"""

from __future__ import annotations

import contextlib
import functools
import operator
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Collection

PORTS = (35963, 35964)

# T=1 ATR with historical bytes "PGVCARD" and its check byte TCK (XOR of T0 .. last byte).
_ATR_BODY = bytes([0x80 | 7, 0x80, 0x01]) + b"PGVCARD"
CPU_ATR = b"\x3b" + _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY, 0)])
SLE4442_ATR = bytes.fromhex("3B04A2131091")

SW_OK = b"\x90\x00"
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NO_EF = b"\x69\x86"
SW_SECURITY = b"\x69\x82"
SW_OFFSET = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"

Path = tuple[int, ...]


class VirtualCard:
    """Connection handling shared by both personalities; subclasses answer APDUs."""

    atr: bytes = CPU_ATR

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.apdu_log: list[bytes] = []
        # Test hook: called with each C-APDU before it is answered; returning True pulls the card
        # out right there (the APDU is not executed and never answered), as a hand would.
        self.pull_before: Callable[[bytes], bool] | None = None
        self.crash: Exception | None = None

    # ---- insertion ---------------------------------------------------------------------------
    def insert(self, reader: int = 0, host: str = "127.0.0.1") -> None:
        if self._sock is not None:
            raise RuntimeError("card is already inserted")
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection((host, PORTS[reader]), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                body = _recv_exact(sock, struct.unpack(">H", head)[0])
                if body is None:
                    return
                try:
                    reply = self._handle(body)
                except Exception as exc:
                    # A bug in the card must not leave vpcd (and the test) waiting for ever:
                    # record it and pull the card.
                    self.crash = exc
                    traceback.print_exc()
                    self._sock = None
                    sock.close()
                    return
                if reply is None:
                    if len(body) > 1:  # the card was pulled before answering
                        self._sock = None
                        sock.close()
                        return
                    continue
                sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            return

    def _handle(self, msg: bytes) -> bytes | None:
        if len(msg) == 1:
            if msg[0] == 0x04:
                return self.atr
            if msg[0] in (0x00, 0x01, 0x02):
                self.power_cycle()
            return None
        self.apdu_log.append(msg)
        if self.pull_before is not None and self.pull_before(msg):
            self.pull_before = None
            return None
        return self.apdu(msg)

    def power_cycle(self) -> None:
        """Volatile state (selected file, verified PSC) is lost on reset and power off."""

    def apdu(self, apdu: bytes) -> bytes:
        raise NotImplementedError


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        # Linux clears TCP_QUICKACK after each recv: without it every APDU waits 40 ms for the ACK.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


class CpuCard(VirtualCard):
    """ISO 7816-4 card: transparent EFs in a dict keyed by path, e.g. (0x3F00, 0x5047, 0x0001).

    DFs are the paths that prefix an EF path. SELECT by FID looks for a child of the current DF,
    then the MF itself, then a child of the parent DF (enough for the flat trees used here).
    READ BINARY with P1 bit 8 set uses a short EF identifier (SFI) of the current DF.
    """

    atr = CPU_ATR

    def __init__(
        self,
        files: dict[Path, bytes] | None = None,
        *,
        read_only: set[Path] | None = None,
        no_read: set[Path] | None = None,
    ) -> None:
        super().__init__()
        self.files: dict[Path, bytearray] = {p: bytearray(v) for p, v in (files or {}).items()}
        self.read_only = read_only or set()
        self.no_read = no_read or set()
        self.sfi: dict[tuple[Path, int], Path] = {}
        self._df: Path = (0x3F00,)
        self._ef: Path | None = None
        self._challenge = 0

    def power_cycle(self) -> None:
        self._df, self._ef = (0x3F00,), None

    def _dfs(self) -> set[Path]:
        dfs: set[Path] = {(0x3F00,)}
        for path in self.files:
            for i in range(1, len(path)):
                dfs.add(path[:i])
        return dfs

    def _select(self, fid: int) -> bytes:
        dfs = self._dfs()
        if fid == 0x3F00:
            self._df, self._ef = (0x3F00,), None
            return SW_OK
        for base in (self._df, self._df[:-1] or self._df):
            cand = (*base, fid)
            if cand in dfs:
                self._df, self._ef = cand, None
                return SW_OK
            if cand in self.files:
                self._df, self._ef = base, cand
                return SW_OK
        return SW_NOT_FOUND

    def apdu(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        lc = body[0] if len(body) > 1 else 0
        data = body[1 : 1 + lc] if len(body) > 1 else b""
        le = body[0] if len(body) == 1 else (body[1 + lc] if len(body) > 1 + lc else None)
        if cla not in (0x00, 0x80):
            return SW_CLA
        if ins == 0xA4:
            if len(data) != 2:
                return SW_WRONG_LENGTH
            return self._select(int.from_bytes(data, "big"))
        if ins == 0x84:
            n = le or 8
            self._challenge += 1
            return (self._challenge.to_bytes(8, "big") * 4)[:n] + SW_OK
        if ins in (0xB0, 0xD6):
            if p1 & 0x80:
                ef = self.sfi.get((self._df, p1 & 0x1F))
                if ef is None:
                    return SW_NOT_FOUND
                self._ef, offset = ef, p2
            else:
                offset = (p1 << 8) | p2
            if self._ef is None:
                return SW_NO_EF
            content = self.files[self._ef]
            if ins == 0xB0 and self._ef in self.no_read:
                return SW_SECURITY
            if ins == 0xB0:
                n = le if le else 256
                if offset > len(content):
                    return SW_OFFSET
                return bytes(content[offset : offset + n]) + SW_OK
            if self._ef in self.read_only:
                return SW_SECURITY
            if offset + len(data) > len(content):
                return SW_OFFSET
            content[offset : offset + len(data)] = data
            return SW_OK
        return SW_INS


class Sle4442Card(VirtualCard):
    """SLE4442 memory card behind an ACS reader's pseudo-APDUs (class FF).

    256 bytes of main memory, 3-byte PSC (new cards FF FF FF), error counter 0b111: each wrong
    PSC clears one bit, a correct one restores all three; at zero the card is locked for ever.
    Writes need the PSC presented since the last power-up.
    """

    atr = SLE4442_ATR

    def __init__(self, memory: bytes | None = None, psc: bytes = b"\xff\xff\xff") -> None:
        super().__init__()
        self.memory = bytearray(memory if memory is not None else _sle_factory_memory())
        self.psc = psc
        self.error_counter = 0b111
        self.verified = False
        self.psc_presentations = 0

    def power_cycle(self) -> None:
        self.verified = False

    def apdu(self, apdu: bytes) -> bytes:
        cla, ins, _p1, p2 = apdu[:4]
        body = apdu[4:]
        if cla != 0xFF:
            return SW_CLA
        if ins == 0xA4:  # select card type (06 = SLE4432/4442/5532)
            return SW_OK if body[1:2] == b"\x06" else b"\x6a\x81"
        if ins == 0xB0:
            n = body[0] if body else 0
            n = n or 256
            return bytes(self.memory[p2 : p2 + n]) + SW_OK
        if ins == 0xB1:  # read security memory: error counter + PSC (reads as zeros)
            return bytes([self.error_counter, 0, 0, 0]) + SW_OK
        if ins == 0x20:
            self.psc_presentations += 1
            if self.error_counter == 0:
                return b"\x90\x00"
            if body[1:4] == self.psc:
                self.error_counter = 0b111
                self.verified = True
                return b"\x90\x07"
            self.error_counter = (self.error_counter << 1) & 0b110
            self.verified = False
            return bytes([0x90, self.error_counter])
        if ins == 0xD0:
            if not self.verified:
                return SW_SECURITY
            data = body[1 : 1 + body[0]]
            if p2 < 0x20 or p2 + len(data) > 256:
                return SW_SECURITY
            self.memory[p2 : p2 + len(data)] = data
            return SW_OK
        if ins == 0xD2:  # change PSC
            if not self.verified:
                return SW_SECURITY
            self.psc = bytes(body[1:4])
            return SW_OK
        return SW_INS


def _sle_factory_memory() -> bytearray:
    mem = bytearray(b"\xff" * 256)
    mem[0:4] = SLE4442_ATR[2:6]  # the chip's own ATR header lives in the first bytes
    return mem


def blank_gateway_card() -> CpuCard:
    """A CPU card as the card vendor delivers it, personalised with the gateway's file tree."""
    return CpuCard(
        {
            (0x3F00, 0x0002): bytes.fromhex("0000000000000000"),
            (0x3F00, 0x5047, 0x0001): bytes(96),
            (0x3F00, 0x5047, 0x0002): bytes(72),
        },
        read_only={(0x3F00, 0x0002)},
    )


def foreign_card() -> CpuCard:
    """A CPU card of some other application (a bank or access card): no gateway DF."""
    return CpuCard({(0x3F00, 0x2F00): bytes.fromhex("61094F07A0000000031010")})


def state_grid_user_card(files: dict[int, bytes], protected: Collection[int] = ()) -> CpuCard:
    """A State Grid user card: DF01 with EF1..EF5 read by SFI; every file is write-protected."""
    df = (0x3F00, 0xDF01)
    paths = {sfi: (*df, sfi) for sfi in files}
    card = CpuCard(
        {paths[sfi]: data for sfi, data in files.items()},
        read_only=set(paths.values()),
        no_read={paths[sfi] for sfi in protected},
    )
    card.sfi = {(df, sfi): path for sfi, path in paths.items()}
    return card
