"""The poller: every meter on every bus read on its schedule, one lane per bus.

Each bus gets one lane, a task that does one thing at a time: an on-demand job (read one meter,
read all, a clock correction, a broadcast) or else the scheduled poll that is due first. So the
poller never has more than one request waiting at a bus: an operator's request (a sale, at
``Priority.OPERATOR``) waits at most for the frame in flight. All lanes run concurrently.

A failing meter backs off (``health.Backoff``) without holding up the rest of its lane; it is
logged once when it goes offline and once when it is back. A whole bus failing (port gone, DTU
offline) is logged once per bus, not once per meter.

Results collect in a batch that is handed to the sink (``Recorder``) every
``batch_interval_s`` or every ``batch_max`` results, one transaction per batch.

Time is injected (a ``SiteClock``): tests move it and call ``wake()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.link.bus import Bus
from gateway.link.errors import (
    BadReplyError,
    BusClosedError,
    LinkError,
    NoRouteError,
    TransportClosedError,
)
from gateway.link.priority import Priority
from gateway.meters.driver import MeterDriver
from gateway.meters.errors import MeterDriverError, MeterRefusedError
from gateway.reading import clock_keeping
from gateway.reading.config import ReadingConfig
from gateway.reading.errors import (
    PollerStoppedError,
    ReadAllBusyError,
    UnknownMeterError,
)
from gateway.reading.health import Backoff, MeterHealth, Transition
from gateway.reading.plan import DI_TIME, ReadSet
from gateway.reading.results import PollResult
from gateway.reading.schedule import MeterSchedule
from gateway.reading.targets import MeterInfo
from gateway.reading.values import MeterValues, ValueShapeError
from gateway.siteclock import SiteClock

log = logging.getLogger(__name__)

T = TypeVar("T")
Sink = Callable[[Sequence[PollResult]], Awaitable[None]]
Targets = Callable[[], Awaitable[Sequence[MeterInfo]]]
DriverFactory = Callable[[MeterInfo], MeterDriver]

MAX_SLEEP_S = 30.0  # a lane re-checks at least this often (clock jumps, missed wakes)
ON_DEMAND_SETS = ("energy", "wallet", "status", "instant")
_MAX_HELD_RESULTS = 50_000  # results kept in memory while the database refuses writes


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    ok: int
    result: PollResult | None = None


@dataclass(frozen=True, slots=True)
class ReadAllSummary:
    total: int
    ok: int
    failed: tuple[str, ...]  # meter addresses


@dataclass(frozen=True, slots=True)
class BusSnapshot:
    name: str
    connected: bool
    meters: int
    online: int
    offline: int
    unknown: int
    polls: int
    failures: int
    reads: int
    down: bool
    doing: str
    waiting: dict[str, int]
    timeouts: int
    bad_frames: int
    retries: int


@dataclass(frozen=True, slots=True)
class PollerSnapshot:
    running: bool
    meters: int
    online: int
    offline: int
    unknown: int
    buses: tuple[BusSnapshot, ...]
    read_all: tuple[int, int] | None  # (done, total) while a read-all runs
    unsaved: int  # results waiting for the next batch write


@dataclass(eq=False)
class _Entry:
    info: MeterInfo
    driver: MeterDriver
    schedule: MeterSchedule
    health: MeterHealth
    unsupported: set[int] = field(default_factory=set)
    gen: int = 0

    def due_at(self) -> dt.datetime | None:
        first = self.schedule.earliest()
        if first is None:
            return None
        retry = self.health.retry_at
        return first if retry is None or retry < first else retry


@dataclass(eq=False)
class _Job:
    run: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any]
    what: str

    def __post_init__(self) -> None:
        # A job's caller may be gone (cancelled, or nobody waits: a clock correction): its
        # failure is logged where it happens, so an unretrieved exception is no news.
        self.future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _Lane:
    """One bus: its meters, their due times, its queue of on-demand jobs, and its task."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.entries: dict[int, _Entry] = {}
        self.heap: list[tuple[dt.datetime, int, int, int]] = []
        self.jobs: deque[_Job] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.down = False
        self.doing = ""
        self.polls = 0
        self.failures = 0
        self.reads = 0

    def push(self, entry: _Entry, seq: itertools.count[int]) -> None:
        due = entry.due_at()
        if due is not None:
            heapq.heappush(self.heap, (due, next(seq), entry.info.meter_id, entry.gen))

    def pop_due(self, now: dt.datetime) -> _Entry | None:
        while self.heap:
            due, _, meter_id, gen = self.heap[0]
            entry = self.entries.get(meter_id)
            if entry is None or entry.gen != gen:
                heapq.heappop(self.heap)  # a stale position (meter removed or re-planned)
                continue
            if due > now:
                return None
            heapq.heappop(self.heap)
            return entry
        return None

    def next_due(self) -> dt.datetime | None:
        while self.heap:
            due, _, meter_id, gen = self.heap[0]
            entry = self.entries.get(meter_id)
            if entry is None or entry.gen != gen:
                heapq.heappop(self.heap)
                continue
            return due
        return None


class Poller:
    def __init__(
        self,
        *,
        targets: Targets,
        driver_for: DriverFactory,
        sink: Sink,
        clock: SiteClock,
        config: ReadingConfig,
    ) -> None:
        self._targets = targets
        self._driver_for = driver_for
        self._sink = sink
        self.clock = clock
        self.config = config
        self._backoff = Backoff(
            dt.timedelta(seconds=config.backoff_initial_s),
            dt.timedelta(seconds=config.backoff_max_s),
        )
        self._lanes: dict[str, _Lane] = {}
        self._where: dict[int, _Lane] = {}  # meter id → lane
        self._seq = itertools.count()
        self._pending: list[PollResult] = []
        self._flush_needed = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._reloader: asyncio.Task[None] | None = None
        self._running = False
        self._read_all: list[int] | None = None  # [done, total] while running
        self._unroutable: set[int] = set()
        self._sink_failing = False

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        await self.reload()
        self._flusher = asyncio.create_task(self._flush_loop(), name="poller-flush")
        self._reloader = asyncio.create_task(self._reload_loop(), name="poller-reload")

    async def stop(self) -> None:
        """Stop every lane, fail waiting jobs with E162, and write what was read."""
        if not self._running:
            return
        self._running = False
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        tasks += [t for t in (self._flusher, self._reloader) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self._lanes.values():
            lane.task = None
            while lane.jobs:
                job = lane.jobs.popleft()
                if not job.future.done():
                    job.future.set_exception(PollerStoppedError("the poller stopped"))
        self._flusher = self._reloader = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def reload(self) -> None:
        """Re-read the meter list: new meters join their bus's lane, removed ones leave."""
        infos = await self._targets()
        now = self.clock.now()
        seen: set[int] = set()
        for info in infos:
            try:
                driver = self._driver_for(info)
            except LinkError as exc:
                if info.meter_id not in self._unroutable:
                    self._unroutable.add(info.meter_id)
                    log.warning("meter %s is not read: %s", info.address, exc)
                continue
            self._unroutable.discard(info.meter_id)
            seen.add(info.meter_id)
            lane = self._lane(driver.bus)
            old_lane = self._where.get(info.meter_id)
            entry = old_lane.entries.get(info.meter_id) if old_lane is not None else None
            if entry is not None and old_lane is not lane:
                assert old_lane is not None
                del old_lane.entries[info.meter_id]
            if entry is None:
                entry = _Entry(
                    info,
                    driver,
                    MeterSchedule.starting(info.plan, now),
                    MeterHealth(self.config.offline_after_failures),
                )
            else:
                if entry.info.plan != info.plan:
                    entry.schedule.replan(info.plan, now)
                entry.info, entry.driver = info, driver
                entry.gen += 1
            lane.entries[info.meter_id] = entry
            self._where[info.meter_id] = lane
            lane.push(entry, self._seq)
        for meter_id in set(self._where) - seen:
            lane = self._where.pop(meter_id)
            lane.entries.pop(meter_id, None)
        self.wake()

    def _lane(self, bus: Bus) -> _Lane:
        lane = self._lanes.get(bus.name)
        if lane is None:
            lane = self._lanes[bus.name] = _Lane(bus)
        if self._running and lane.task is None:
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"poll-{bus.name}")
        return lane

    def wake(self) -> None:
        """Re-check what is due now (after a test moved the clock, or new meters)."""
        for lane in self._lanes.values():
            lane.wake.set()

    # ---- what others call --------------------------------------------------------------------

    def bus_names(self) -> list[str]:
        return sorted(self._lanes)

    def bus(self, name: str) -> Bus:
        lane = self._lanes.get(name)
        if lane is None:
            raise UnknownMeterError(f"no meter is read on bus {name!r}")
        return lane.bus

    def meters(self) -> list[MeterInfo]:
        return [e.info for lane in self._lanes.values() for e in lane.entries.values()]

    def health(self, meter_id: int) -> MeterHealth | None:
        lane = self._where.get(meter_id)
        entry = lane.entries.get(meter_id) if lane is not None else None
        return entry.health if entry is not None else None

    async def submit(
        self,
        bus_name: str,
        run: Callable[[], Awaitable[T]],
        *,
        what: str = "job",
        first: bool = False,
    ) -> T:
        """Run ``run`` on a bus's lane, between polls (one lane job at a time per bus)."""
        if not self._running:
            raise PollerStoppedError("the poller is not running")
        lane = self._lanes.get(bus_name)
        if lane is None:
            raise UnknownMeterError(f"no meter is read on bus {bus_name!r}")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        job = _Job(run, future, what)
        if first:
            lane.jobs.appendleft(job)
        else:
            lane.jobs.append(job)
        lane.wake.set()
        return await future

    async def read_one(self, meter_id: int, *, sets: Collection[str] | None = None) -> PollResult:
        """【单只读表】: read one meter now, ahead of the schedule, at operator priority."""
        entry, lane = self._entry(meter_id)
        chosen = self._sets(entry, sets)
        result = await self.submit(
            lane.bus.name,
            lambda: self._poll(lane, entry, chosen, Priority.OPERATOR),
            what=f"read {entry.info.address}",
            first=True,
        )
        self._flush_needed.set()
        return result

    async def read_all(
        self,
        *,
        meter_ids: Collection[int] | None = None,
        sets: Collection[str] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> ReadAllSummary:
        """【抄表开始】: read every meter (or the chosen ones) now, all buses at once.

        ``progress`` is called after each meter with (done, total). Results are written before
        this returns. Only one read-all runs at a time (E163).
        """
        if not self._running:
            raise PollerStoppedError("the poller is not running")
        if self._read_all is not None:
            raise ReadAllBusyError("a read of all meters is already running")
        chosen: list[tuple[_Lane, _Entry]] = []
        for lane in self._lanes.values():
            for entry in sorted(lane.entries.values(), key=lambda e: e.info.address):
                if meter_ids is None or entry.info.meter_id in meter_ids:
                    chosen.append((lane, entry))
        if meter_ids is not None:
            missing = set(meter_ids) - {e.info.meter_id for _, e in chosen}
            if missing:
                raise UnknownMeterError(f"meters {sorted(missing)} are not in the reading list")
        self._read_all = [0, len(chosen)]
        ok = 0
        failed: list[str] = []
        try:
            futures: list[asyncio.Future[PollResult]] = []
            loop = asyncio.get_running_loop()
            for lane, entry in chosen:
                future: asyncio.Future[PollResult] = loop.create_future()
                wanted = self._sets(entry, sets)
                lane.jobs.append(
                    _Job(
                        _bind(self._poll, lane, entry, wanted, Priority.POLL),
                        future,
                        f"read-all {entry.info.address}",
                    )
                )
                futures.append(future)
                lane.wake.set()
            for next_done in asyncio.as_completed(futures):
                result = await next_done
                self._read_all[0] += 1
                if result.ok:
                    ok += 1
                else:
                    failed.append(result.address)
                if progress is not None:
                    progress(Progress(self._read_all[0], len(chosen), ok, result))
            await self.flush()
            return ReadAllSummary(len(chosen), ok, tuple(sorted(failed)))
        finally:
            self._read_all = None

    async def iter_read_all(
        self, *, meter_ids: Collection[int] | None = None, sets: Collection[str] | None = None
    ) -> AsyncIterator[Progress]:
        """``read_all`` as an async iterator of progress (the web UI streams it)."""
        queue: asyncio.Queue[Progress | ReadAllSummary | BaseException] = asyncio.Queue()
        task = asyncio.create_task(
            self.read_all(meter_ids=meter_ids, sets=sets, progress=queue.put_nowait)
        )
        task.add_done_callback(
            lambda t: queue.put_nowait(
                t.exception() or t.result()
                if not t.cancelled()
                else PollerStoppedError("cancelled")
            )
        )
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, ReadAllSummary):
                    return
                yield item
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _entry(self, meter_id: int) -> tuple[_Entry, _Lane]:
        lane = self._where.get(meter_id)
        entry = lane.entries.get(meter_id) if lane is not None else None
        if lane is None or entry is None:
            raise UnknownMeterError(f"meter {meter_id} is not in the reading list")
        return entry, lane

    def _sets(self, entry: _Entry, names: Collection[str] | None) -> tuple[ReadSet, ...]:
        wanted = ON_DEMAND_SETS if names is None else tuple(names)
        return tuple(s for s in entry.info.plan.sets if s.name in wanted)

    async def flush(self) -> None:
        """Hand everything read so far to the sink (one transaction)."""
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self._sink(batch)
            except asyncio.CancelledError:
                self._pending[:0] = batch
                raise
            except Exception:
                if not self._sink_failing:
                    log.exception("writing %d readings failed; kept in memory to retry", len(batch))
                self._sink_failing = True
                held = batch + self._pending
                self._pending = held[-_MAX_HELD_RESULTS:]
                return
            if self._sink_failing:
                log.info("writing readings works again")
                self._sink_failing = False

    def snapshot(self) -> PollerSnapshot:
        buses: list[BusSnapshot] = []
        for name, lane in sorted(self._lanes.items()):
            states = [e.health.online for e in lane.entries.values()]
            stats = lane.bus.stats
            buses.append(
                BusSnapshot(
                    name=name,
                    connected=lane.bus.connected,
                    meters=len(states),
                    online=sum(1 for s in states if s is True),
                    offline=sum(1 for s in states if s is False),
                    unknown=sum(1 for s in states if s is None),
                    polls=lane.polls,
                    failures=lane.failures,
                    reads=lane.reads,
                    down=lane.down,
                    doing=lane.doing,
                    waiting={p.name.lower(): n for p, n in lane.bus.waiting().items()},
                    timeouts=stats.timeouts,
                    bad_frames=stats.bad_frames,
                    retries=stats.retries,
                )
            )
        return PollerSnapshot(
            running=self._running,
            meters=sum(b.meters for b in buses),
            online=sum(b.online for b in buses),
            offline=sum(b.offline for b in buses),
            unknown=sum(b.unknown for b in buses),
            buses=tuple(buses),
            read_all=(self._read_all[0], self._read_all[1]) if self._read_all else None,
            unsaved=len(self._pending),
        )

    # ---- lanes -------------------------------------------------------------------------------

    async def _run_lane(self, lane: _Lane) -> None:
        while True:
            try:
                await self._lane_step(lane)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poll lane of bus %s failed; continuing", lane.bus.name)
                await asyncio.sleep(1.0)

    async def _lane_step(self, lane: _Lane) -> None:
        if lane.jobs:
            job = lane.jobs.popleft()
            lane.doing = job.what
            try:
                if not job.future.done():
                    job.future.set_result(await job.run())
            except asyncio.CancelledError:
                if not job.future.done():
                    job.future.set_exception(PollerStoppedError("the poller stopped"))
                raise
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
            finally:
                lane.doing = ""
            return
        now = self.clock.now()
        entry = lane.pop_due(now)
        if entry is not None:
            sets = entry.schedule.due(now) if entry.health.may_poll(now) else ()
            if sets:
                lane.doing = f"poll {entry.info.address}"
                try:
                    await self._poll(lane, entry, sets, Priority.POLL)
                finally:
                    lane.doing = ""
            lane.push(entry, self._seq)
            return
        due = lane.next_due()
        delay = MAX_SLEEP_S
        if due is not None:
            delay = min(MAX_SLEEP_S, max(0.0, (due - now).total_seconds()))
        lane.wake.clear()
        if lane.jobs or delay == 0.0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await lane.wake.wait()

    # ---- one poll ----------------------------------------------------------------------------

    async def _poll(
        self,
        lane: _Lane,
        entry: _Entry,
        sets: Sequence[ReadSet],
        priority: Priority,
        *,
        clock_set: bool = False,
        clock_set_error: str = "",
    ) -> PollResult:
        info, driver, bus = entry.info, entry.driver, lane.bus
        started = self.clock.now()
        values = MeterValues()
        done: list[ReadSet] = []
        retries, bad = bus.stats.retries, bus.stats.bad_frames
        failure: BaseException | None = None
        drift: int | None = None
        gateway_now = self.clock.to_local(started)
        for read_set in sets:
            for di in read_set.items:
                if di in entry.unsupported:
                    continue
                try:
                    value = await driver.read(di, priority=priority)
                    lane.reads += 1
                    if di == DI_TIME:
                        gateway_now = self.clock.local_now()
                    values.add(di, value)
                except MeterRefusedError as exc:
                    # The meter answered: it is there, it just does not have this item.
                    entry.unsupported.add(di)
                    log.warning("meter %s does not answer %08X (%s); no longer asked",
                                info.address, di, exc.err_names)  # fmt: skip
                except (LinkError, MeterDriverError, ValueShapeError) as exc:
                    failure = exc
                    break
            if failure is not None:
                break
            done.append(read_set)
            if read_set.name == "clock" and values.meter_clock is not None:
                drift = clock_keeping.drift_seconds(values.meter_clock, gateway_now)
        entry.schedule.done(done, started)
        result = self._outcome(
            lane,
            entry,
            started,
            values,
            done,
            failure,
            drift,
            retries=bus.stats.retries - retries,
            bad_frames=bus.stats.bad_frames - bad,
            clock_set=clock_set,
            clock_set_error=clock_set_error,
        )
        lane.polls += 1
        if not result.ok:
            lane.failures += 1
        self._pending.append(result)
        if len(self._pending) >= self.config.batch_max:
            self._flush_needed.set()
        if (
            drift is not None
            and not (clock_set or clock_set_error)
            and clock_keeping.needs_password_set(drift, self.config.clock, self.clock.local_now())
        ):
            lane.jobs.appendleft(
                _Job(
                    _bind(self._set_clock, lane, entry, drift),
                    asyncio.get_running_loop().create_future(),
                    f"set clock {info.address}",
                )
            )
        return result

    def _outcome(
        self,
        lane: _Lane,
        entry: _Entry,
        started: dt.datetime,
        values: MeterValues,
        done: list[ReadSet],
        failure: BaseException | None,
        drift: int | None,
        **extra: Any,
    ) -> PollResult:
        info = entry.info
        names = frozenset(s.name for s in done)
        if failure is None:
            if entry.health.succeeded() is Transition.RECOVERED:
                log.info("meter %s on %s answers again", info.address, lane.bus.name)
            self._bus_state(lane, None)
            return PollResult(info, started, True, values, names, True, drift_s=drift, **extra)
        bus_down = isinstance(failure, NoRouteError | TransportClosedError | BusClosedError)
        code = str(getattr(failure, "code", "E160"))
        message = f"{code} {failure}"
        transition = entry.health.failed(self.clock.now(), message, self._backoff)
        if bus_down:
            self._bus_state(lane, failure)
        else:
            self._bus_state(lane, None)
            if transition is Transition.WENT_OFFLINE:
                log.warning("meter %s on %s is offline: %s (retrying with backoff)",
                            info.address, lane.bus.name, message)  # fmt: skip
        return PollResult(
            info,
            started,
            False,
            values,
            names,
            online=entry.health.online is not False,
            error=message,
            error_code=code,
            corrupt=isinstance(failure, BadReplyError | ValueShapeError),
            drift_s=drift,
            bus_down=bus_down,
            **extra,
        )

    def _bus_state(self, lane: _Lane, failure: BaseException | None) -> None:
        if failure is not None and not lane.down:
            lane.down = True
            log.warning("bus %s cannot be used: %s; its meters are retried with backoff",
                        lane.bus.name, failure)  # fmt: skip
        elif failure is None and lane.down:
            lane.down = False
            log.info("bus %s works again", lane.bus.name)

    async def _set_clock(self, lane: _Lane, entry: _Entry, drift: int) -> PollResult | None:
        """Per-meter correction with the password (14H date then time), then read it back."""
        now_local = self.clock.local_now()
        if not clock_keeping.needs_password_set(drift, self.config.clock, now_local):
            return None
        info = entry.info
        error = ""
        try:
            await entry.driver.set_time(now_local, priority=Priority.POLL)
        except (LinkError, MeterDriverError) as exc:
            error = f"{getattr(exc, 'code', 'E160')} {exc}"
            log.warning("setting the clock of meter %s (%+d s off) failed: %s",
                        info.address, drift, error)  # fmt: skip
        else:
            log.info("set the clock of meter %s, which was %+d s off", info.address, drift)
        clock_set = info.plan.get("clock")
        sets = (clock_set,) if clock_set is not None else ()
        return await self._poll(
            lane, entry, sets, Priority.POLL, clock_set=not error, clock_set_error=error
        )

    # ---- background --------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.batch_interval_s):
                    await self._flush_needed.wait()
            self._flush_needed.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flushing readings failed")

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_every_s)
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reloading the meter list failed; keeping the previous one")


def _bind(fn: Callable[..., Awaitable[T]], *args: Any) -> Callable[[], Awaitable[T]]:
    def call() -> Awaitable[T]:
        return fn(*args)

    return call
