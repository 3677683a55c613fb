"""Meter reading, monitoring, alarms and clock keeping (F7.5).

- ``plan``: what is read and how often (read sets per meter type); ``schedule``: when.
- ``poller``: one lane per bus, on-demand reads with progress, backoff (``health``).
- ``values``: decoded values → exact integers; ``monitor``: exceptions found in a poll.
- ``recorder``: one transaction per batch (``store.readings``, rollups, ``alarm_book``).
- ``clock_keeping`` (rules) and ``broadcast`` (daily 08H); ``relay_control`` (1CH with
  read-back and retries) for ``gateway.services.wallet_enforcement``.
- ``runtime``: all of it as one object for the run loop; ``acknowledge``: alarms.ack.
See docs/reading.md.
"""

from gateway.reading.config import ReadingConfig
from gateway.reading.poller import Poller, PollerSnapshot, Progress, ReadAllSummary
from gateway.reading.results import PollResult
from gateway.reading.runtime import ReadingRuntime, ReadingSnapshot
from gateway.reading.targets import MeterInfo

__all__ = [
    "MeterInfo",
    "PollResult",
    "Poller",
    "PollerSnapshot",
    "Progress",
    "ReadAllSummary",
    "ReadingConfig",
    "ReadingRuntime",
    "ReadingSnapshot",
]
