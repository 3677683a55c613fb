"""State Grid user cards: read the plaintext files the card allows, never write anything.

A State Grid (国网) user card is a CPU card with the application DF DF01 and binary files EF1..EF5
(parameters, wallet, current and backup prices, return-write file), read by short file
identifier. Values on these cards are minted by the utility's encryption machine; this module
only shows what is readable. Data files are framed ``68 CMD LEN DATA CS 16`` (LEN one or two bytes,
CS = sum of CMD..DATA modulo 256); a file that parses that way is shown split into its parts,
anything else as hex.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.cards.media import SW_OK, status_word
from gateway.cards.pcsc import Transport

DF = 0xDF01
FILE_NAMES = {
    1: "EF1 parameters / 参数信息",
    2: "EF2 wallet / 钱包",
    3: "EF3 current prices / 当前套电价",
    4: "EF4 backup prices / 备用套电价",
    5: "EF5 return-write / 返写信息",
}


@dataclass(frozen=True)
class Framed:
    command: int
    data: bytes


@dataclass(frozen=True)
class StateGridFile:
    sfi: int
    name: str
    raw: bytes | None  # None: the card refused to give it in plaintext
    status: int  # the SW of the read

    @property
    def framed(self) -> Framed | None:
        return parse_frame(self.raw) if self.raw else None


@dataclass(frozen=True)
class StateGridCard:
    files: tuple[StateGridFile, ...]


def parse_frame(raw: bytes) -> Framed | None:
    """``68 CMD LEN DATA CS 16`` with a 1- or 2-byte length, trailing padding ignored."""
    if len(raw) < 5 or raw[0] != 0x68:
        return None
    for len_size in (1, 2):
        n = int.from_bytes(raw[2 : 2 + len_size], "big")
        end = 2 + len_size + n
        if end + 2 > len(raw) or raw[end + 1] != 0x16:
            continue
        if sum(raw[1:end]) & 0xFF == raw[end]:
            return Framed(raw[1], raw[2 + len_size : end])
    return None


def probe(t: Transport) -> bool:
    if status_word(t, bytes.fromhex("00A40000023F00")) != SW_OK:
        return False
    return status_word(t, bytes.fromhex("00A4000002") + DF.to_bytes(2, "big")) == SW_OK


def read_state_grid(t: Transport) -> StateGridCard:
    """READ BINARY by SFI of EF1..EF5 (DF01 selected by probe). No command here writes."""
    files = []
    for sfi, name in FILE_NAMES.items():
        data, sw = t.transmit(bytes([0x00, 0xB0, 0x80 | sfi, 0x00, 0x00]))
        if sw >> 8 == 0x6C:
            data, sw = t.transmit(bytes([0x00, 0xB0, 0x80 | sfi, 0x00, sw & 0xFF]))
        ok = sw in (SW_OK, 0x6282)  # 6282: end of file reached before Le bytes
        files.append(StateGridFile(sfi, name, data if ok else None, sw))
    return StateGridCard(tuple(files))
