"""Long operations the browser follows with a progress bar: read all meters, and the like.

A job runs as a task on the event loop; pages poll ``/api/v1/jobs/{id}`` (or reload) to show
``done / total``. The board keeps the last few finished jobs so a page opened later still shows
how the last read-all ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

JobState = Literal["running", "done", "failed"]
KEEP_FINISHED = 20


@dataclass
class Job:
    id: str
    kind: str  # "read_all", ...
    operator_id: int | None
    started_at: dt.datetime
    total: int = 0
    done: int = 0
    ok: int = 0
    state: JobState = "running"
    error_code: str = ""
    error: str = ""
    failed: tuple[str, ...] = ()  # what did not succeed (meter addresses)
    finished_at: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def progress(self, done: int, total: int, ok: int) -> None:
        self.done, self.total, self.ok = done, total, ok

    @property
    def percent(self) -> int:
        return self.done * 100 // self.total if self.total else (100 if self.finished else 0)

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "ok": self.ok,
            "percent": self.percent,
            "failed": list(self.failed),
            "error_code": self.error_code or None,
            "error": self.error or None,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class JobBoard:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, kind: str, operator_id: int | None, work: Callable[[Job], Awaitable[None]]
    ) -> Job:
        job = Job(secrets.token_hex(8), kind, operator_id, self._clock())
        self._jobs[job.id] = job
        self._trim()

        async def run() -> None:
            try:
                await work(job)
                job.state = "done"
            except asyncio.CancelledError:
                job.state, job.error = "failed", "cancelled"
                raise
            except Exception as exc:
                job.state = "failed"
                code = getattr(exc, "code", "")
                job.error_code = code if isinstance(code, str) else ""
                job.error = str(exc)[:300]
                if not job.error_code:
                    log.exception("job %s (%s) failed", job.id, kind)
            finally:
                job.finished_at = self._clock()

        task = asyncio.create_task(run(), name=f"web-job-{kind}-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def latest(self, kind: str) -> Job | None:
        for job in reversed(self._jobs.values()):
            if job.kind == kind:
                return job
        return None

    def _trim(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]

    async def close(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        for task in tuple(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
