"""Fault switches of one virtual meter, and how its replies reach the wire under them.

``silent`` is a dead meter: it neither processes nor answers. A dropped reply is different and
matters more for money: the meter *did* process the request (a recharge is credited) but the
answer is lost, which is exactly the case the gateway's vend recovery must handle.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.dlt645 import Frame

# The names the CLI and the state file use, mapped to the dataclass fields.
FLAG_NAMES: dict[str, str] = {
    "silent": "silent",
    "garble": "garble",
    "bad-checksum": "bad_checksum",
    "no-preamble": "no_preamble",
    "one-byte-03h": "one_byte_03h_errors",
}
VALUE_NAMES: dict[str, str] = {"drop": "drop_rate_pct", "delay": "extra_delay_ms"}


@dataclass
class Faults:
    """Mutable on purpose: tests and the demo flip switches on a running meter."""

    silent: bool = False
    drop_rate_pct: int = 0
    extra_delay_ms: int = 0
    garble: bool = False
    bad_checksum: bool = False
    no_preamble: bool = False
    one_byte_03h_errors: bool = False
    seed: int = 0
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.drop_rate_pct <= 100:
            raise ValueError(f"drop rate {self.drop_rate_pct}% is outside 0..100")
        if not 0 <= self.extra_delay_ms <= 60_000:
            raise ValueError(f"extra delay {self.extra_delay_ms} ms is outside 0..60000")
        self.rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return self != Faults(seed=self.seed)

    def encode(self, reply: Frame) -> bytes | None:
        """The bytes this meter puts on the wire for ``reply``; None when the reply is dropped."""
        if self.drop_rate_pct and self.rng.randrange(100) < self.drop_rate_pct:
            return None
        raw = bytearray(reply.to_bytes(preamble=not self.no_preamble))
        body = raw.index(0x68)  # first byte after the FE preamble
        if self.bad_checksum:
            raw[-2] = (raw[-2] + 1) & 0xFF
        if self.garble:
            # Flip bits in 1..3 bytes of the frame proper: enough to break it, like line noise.
            for _ in range(self.rng.randint(1, 3)):
                i = self.rng.randrange(body, len(raw))
                raw[i] ^= self.rng.randint(1, 255)
        return bytes(raw)

    def set(self, name: str, value: int | None = None) -> None:
        """Switch a fault on by its CLI name ('garble', 'drop' with a percent, ...)."""
        if name in FLAG_NAMES:
            if value is not None:
                raise ValueError(f"fault {name!r} takes no value")
            setattr(self, FLAG_NAMES[name], True)
            return
        if name in VALUE_NAMES:
            if value is None:
                raise ValueError(f"fault {name!r} needs a value, e.g. {name}=10")
            updated = {**self.to_dict(), VALUE_NAMES[name]: value}
            Faults.from_dict(updated)  # validates the range before anything changes
            setattr(self, VALUE_NAMES[name], value)
            return
        known = ", ".join([*FLAG_NAMES, *(f"{n}=N" for n in VALUE_NAMES)])
        raise ValueError(f"unknown fault {name!r}; known faults: {known}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "silent": self.silent,
            "drop_rate_pct": self.drop_rate_pct,
            "extra_delay_ms": self.extra_delay_ms,
            "garble": self.garble,
            "bad_checksum": self.bad_checksum,
            "no_preamble": self.no_preamble,
            "one_byte_03h_errors": self.one_byte_03h_errors,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        unknown = set(data) - set(cls().to_dict())
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**{k: data[k] for k in data})
