"""The card reader service for the event loop: every pyscard call runs in a worker thread.

One operation at a time per service (a lock), so two web requests cannot interleave APDUs on the
same card. Errors are the CardError subclasses of gateway.cards.errors, with stable codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TypeVar

from gateway.cards.config import CardReaderConfig
from gateway.cards.format import CardContent, IssueCard, ReturnArea
from gateway.cards.keys import SiteKey, load_site_key
from gateway.cards.monitor import CardMonitor
from gateway.cards.session import BlockingCardReader, CardRead

T = TypeVar("T")


class CardReaderService:
    """Async facade over BlockingCardReader for one configured reader."""

    def __init__(
        self,
        config: CardReaderConfig,
        key: SiteKey | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.key = key if key is not None else load_site_key(config.site_key, environ)
        self.blocking = BlockingCardReader(config, self.key)
        self._lock = asyncio.Lock()

    async def _run(self, func: Callable[[], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(func)

    async def readers(self) -> list[str]:
        """Names of every connected reader (E401 when pcscd is down)."""
        return await self._run(self.blocking.readers)

    async def reader_name(self) -> str:
        """The reader this service uses (E402 / E403 when there is none or it is ambiguous)."""
        return await self._run(self.blocking.reader_name)

    async def read(self) -> CardRead:
        return await self._run(self.blocking.read)

    async def read_user_card(self) -> CardContent:
        return await self._run(self.blocking.read_user_card)

    async def write(
        self,
        issue: IssueCard,
        *,
        require_blank: bool = False,
        expect_serial: int | None = None,
    ) -> CardContent:
        def op() -> CardContent:
            return self.blocking.write(
                issue, require_blank=require_blank, expect_serial=expect_serial
            )

        return await self._run(op)

    async def write_return(self, ret: ReturnArea, *, expect_serial: int) -> CardContent:
        return await self._run(lambda: self.blocking.write_return(ret, expect_serial=expect_serial))

    async def clear(self, *, expect_serial: int | None = None) -> None:
        await self._run(lambda: self.blocking.clear(expect_serial=expect_serial))

    def monitor(self, *, poll_s: float = 0.5) -> CardMonitor:
        """Insert/remove events of this service's reader (use as ``async with``)."""
        return CardMonitor(self.config.reader, poll_s=poll_s)
