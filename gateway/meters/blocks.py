"""Block data identifiers and their members, for meters that cannot read blocks in one go."""

from __future__ import annotations

import dataclasses

from gateway.dlt645 import DataId, lookup
from gateway.dlt645.dataids import BY_DI

# Block DI → the single DIs it is made of, in the block's order.
MEMBERS: dict[int, tuple[int, ...]] = {
    0x0001FF00: (0x00010000, 0x00010100, 0x00010200, 0x00010300, 0x00010400),
    0x0201FF00: (0x02010100, 0x02010200, 0x02010300),
    0x0202FF00: (0x02020100, 0x02020200, 0x02020300),
    0x0203FF00: (0x02030000, 0x02030100, 0x02030200, 0x02030300),
    0x040005FF: tuple(0x04000501 + i for i in range(7)),
}


def members(block: DataId) -> tuple[DataId, ...]:
    """The single-value rows of a block; rows missing from the table take the block's format."""
    try:
        dis = MEMBERS[block.di]
    except KeyError:
        raise ValueError(f"{block.di:08X} is not a known block") from None
    return tuple(
        BY_DI.get(di) or dataclasses.replace(block, di=di, name=f"{block.name}_{i}", count=1)
        for i, di in enumerate(dis)
    )


def is_block(key: int | str) -> bool:
    return lookup(key).count > 1
