"""Kill a selling gateway again and again; then prove every sale happened exactly once.

The meters are the product's simulator in a process of its own (``prepaid-gateway simulate``
over TCP), so their wallets outlive every death of the gateway, as real meters do. The gateway
is ``gateway_child``: each life opens the ledger, recovers unfinished vends, resubmits some of
the requests its previous life left without an answer (as an operator or the cloud would), and
sells until it is killed:

- at a named state boundary (``PREPAID_GATEWAY_CRASHPOINT``, see gateway/services/crashpoints),
  including the window where the meter has credited and the ledger has not committed, and
  inside the confirming transaction;
- or with SIGKILL from here after a random delay.

A last life only recovers. Then the simulator is stopped (it saves its meters) and ``verify``
compares, meter by meter, the meter's own registers with the ledger, and runs
``prepaid-gateway db check`` (hash chains, derived balances, vends against the ledger). Every
difference is a mismatch; the target is none.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.services.crashpoints import ENVIRONMENT, POINTS
from gateway.simulator import state
from gateway.simulator.meter import VirtualMeter, Wallet

REPO = Path(__file__).resolve().parents[3]
CHILD = "tests.integration.crash.gateway_child"
# Generous: a loaded 2-core machine can take seconds to start a Python process.
START_TIMEOUT_S = 60.0
LIFE_TIMEOUT_S = 120.0

# The order matters where a point is only met while recovering: a kill at vend.sent or
# vend.replied leaves a vend that the next life's recovery resolves (vend.resolve.read).
CI_POINTS: tuple[str, ...] = (
    "vend.pending",
    "vend.sent",
    "vend.resolve.read",
    "vend.replied",
    "vend.resolve.read",
    "confirm.sale_row",
    "confirm.receipt",
    "confirm.state",
    "confirm.events",
    "vend.confirmed",
    "vend.uncertain",
    "vend.resolve.read",
)


@dataclass(frozen=True)
class CrashPlan:
    """How hard to shake the gateway. The defaults are the CI run."""

    points: tuple[str, ...] = CI_POINTS  # each "NAME" or "NAME:N"
    random_kills: int = 20
    money_meters: int = 3
    energy_meters: int = 2
    purchases_per_life: int = 40
    concurrency: int = 2  # operators selling at once (the web and the cloud, say)
    max_fen: int = 20_000
    drop_pct: int = 5  # replies lost after the meter acted: live uncertain vends
    reply_delay_ms: int = 5
    kill_delay_s: tuple[float, float] = (0.0, 0.4)  # random kills, after recovery began
    retry_share: float = 0.5  # requests left without an answer that are submitted again
    point_attempts: int = 6  # lives allowed to meet a point that needs a lost reply
    seed: int = 1
    mutant: str | None = None  # a wrong recovery in the gateway (gateway_child.MUTANTS)


@dataclass
class Life:
    """What one gateway process did, from its own JSON lines."""

    label: str  # "point:NAME", "random" or "final"
    events: list[dict[str, Any]]
    returncode: int
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def interrupted(self) -> list[dict[str, Any]]:
        """Requests submitted in this life that got no answer before it died."""
        answered = {e["key"] for e in self.events if e["event"] in ("result", "error")}
        return [e for e in self.of("begin") if e["key"] not in answered]


@dataclass
class CrashReport:
    lives: int = 0
    kills: int = 0
    random_kills: int = 0
    point_hits: Counter[str] = field(default_factory=Counter)
    left_behind: dict[str, Counter[str]] = field(default_factory=dict)
    retried: int = 0
    confirmed: int = 0
    submitted: int = 0
    mismatches: list[str] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)  # points no life met (needs more luck)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.kills,
            "mismatches": len(self.mismatches),
            "points": {p: self.point_hits.get(p, 0) for p in POINTS},
            "random_kills": self.random_kills,
            "lives": self.lives,
            "purchases_submitted": self.submitted,
            "sales_confirmed": self.confirmed,
            "requests_resubmitted": self.retried,
            # what the next life found unfinished after each kind of kill
            "left_behind": {
                k: dict(sorted(v.items())) for k, v in sorted(self.left_behind.items())
            },
            "unreached": self.unreached,
            "seconds": round(self.seconds, 1),
            "mismatch_details": self.mismatches[:20],
        }


class Simulator:
    """``prepaid-gateway simulate`` over TCP with a state file, in its own process."""

    def __init__(self, workdir: Path, plan: CrashPlan) -> None:
        self.state_file = workdir / "meters.json"
        # Numbered and ordered as the demo seed numbers them; no load, so nothing is consumed.
        money: list[Wallet] = ["money"]
        energy: list[Wallet] = ["energy"]
        wallets = money * plan.money_meters + energy * plan.energy_meters
        meters = [
            VirtualMeter(str(n).rjust(12, "0"), wallet=wallet, load_w=0)
            for n, wallet in enumerate(wallets, start=1)
        ]
        state.save(self.state_file, meters)
        argv = [
            sys.executable, "-m", "gateway", "simulate", "--tcp", "127.0.0.1:0",
            "--state", str(self.state_file), "--save-every", "3600", "--no-wire-timing",
            "--reply-delay-ms", str(plan.reply_delay_ms), "--fault-seed", str(plan.seed),
        ]  # fmt: skip
        if plan.drop_pct:
            argv += ["--fault", f"drop={plan.drop_pct}"]
        self.log = (workdir / "simulator.err").open("wb")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.port = self._port()

    def _port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "tcp://" in line:
                return int(line.split("tcp://", 1)[1].split()[0].rsplit(":", 1)[1])
        self.stop()
        raise RuntimeError(f"the simulator did not start (see {self.log.name})")

    def stop(self) -> dict[str, dict[str, Any]]:
        """SIGTERM: the simulator saves its meters on the way out. Address → saved meter."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("the simulator did not stop on SIGTERM") from None
        self.log.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"the simulator exited {self.proc.returncode} (see {self.log.name})")
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        return {m["address"]: m for m in data["meters"]}


class Child:
    """One gateway life; its stdout is read on a thread so the parent can kill it any time."""

    def __init__(self, argv: list[str], env: dict[str, str], stderr: Path) -> None:
        self.stderr_file = stderr
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True
            )
        self.events: list[dict[str, Any]] = []
        self.started = threading.Event()  # recovery is about to begin
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line, cut by the kill: nobody saw it
            self.events.append(event)
            if event["event"] == "unfinished":
                self.started.set()
        self.started.set()

    def finish(self, label: str, timeout: float = LIFE_TIMEOUT_S) -> Life:
        note = ""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            note = f"hung: killed after {timeout} s\n"
        self._reader.join(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        err = self.stderr_file.read_text(encoding="utf-8", errors="replace")
        return Life(label, list(self.events), int(self.proc.returncode), note + err)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)


class CrashRun:
    def __init__(self, workdir: Path, plan: CrashPlan) -> None:
        self.workdir = workdir
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.db = workdir / "gateway.sqlite"
        self.site_file = workdir / "site.json"
        self.report = CrashReport()
        self.lives: list[Life] = []
        self.retries: list[str] = []
        self.previous_label = ""

    def argv(self, *mode: str) -> list[str]:
        p = self.plan
        return [
            sys.executable, "-m", CHILD, "--db", str(self.db), "--site", str(self.site_file),
            "--money-meters", str(p.money_meters), "--energy-meters", str(p.energy_meters),
            *(["--mutant", p.mutant] if p.mutant else []), *mode,
        ]  # fmt: skip

    def child(self, argv: list[str], point: str | None) -> Child:
        env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT}
        if point is not None:
            env[ENVIRONMENT] = point
        logs = self.workdir / "lives"
        logs.mkdir(exist_ok=True)
        return Child(argv, env, logs / f"{len(self.lives) + 1:04d}.err")

    def run(self) -> CrashReport:
        started = time.monotonic()
        setup = self.child(self.argv("--setup"), None).finish("setup")
        if setup.returncode != 0:
            raise RuntimeError(f"setup failed: {setup.stderr[-2000:]}")
        sim = Simulator(self.workdir, self.plan)
        try:
            for step in self.schedule():
                if step == "random":
                    self.random_kill(sim.port)
                else:
                    self.point_kill(sim.port, step)
            final = self.child(self.argv("--port", str(sim.port), "--final"), None)
            self.record(final.finish("final"))
        finally:
            meters = sim.stop()
        self.verify(meters)
        self.report.seconds = time.monotonic() - started
        return self.report

    def schedule(self) -> list[str]:
        """The named points in order, with the random kills spread between them.

        A vend.resolve.read kill stays right after the kill before it in the plan: that kill
        leaves the vend whose recovery meets the point.
        """
        units: list[list[str]] = []
        for point in self.plan.points:
            if point.startswith("vend.resolve.read") and units:
                units[-1].append(point)
            else:
                units.append([point])
        for _ in range(self.plan.random_kills):
            units.insert(self.rng.randint(0, len(units)), ["random"])
        return [step for unit in units for step in unit]

    def sell(self, port: int, point: str | None) -> Child:
        n = self.report.lives
        mode = [
            "--port", str(port), "--runs", str(self.plan.purchases_per_life),
            "--seed", str(self.plan.seed * 100_003 + n), "--key-prefix", f"L{n}",
            "--concurrency", str(self.plan.concurrency), "--max-fen", str(self.plan.max_fen),
        ]  # fmt: skip
        for item in self.retries:
            mode += ["--retry", item]
        self.report.retried += len(self.retries)
        self.retries = []
        return self.child(self.argv(*mode), point)

    def random_kill(self, port: int) -> None:
        child = self.sell(port, None)
        if not child.started.wait(START_TIMEOUT_S):
            child.kill()
        time.sleep(self.rng.uniform(*self.plan.kill_delay_s))
        child.kill()
        life = self.record(child.finish("random"))
        if life.killed:
            self.report.random_kills += 1

    def point_kill(self, port: int, point: str) -> None:
        name = point.split(":", 1)[0]
        for _ in range(self.plan.point_attempts):
            life = self.record(self.sell(port, point).finish(f"point:{name}"))
            if life.killed:
                if f"crashpoint {name}:" not in life.stderr:
                    self.report.mismatches.append(
                        f"life {self.report.lives}: killed but not at {point}"
                    )
                self.report.point_hits[name] += 1
                return
        self.report.unreached.append(point)

    def record(self, life: Life) -> Life:
        r = self.report
        r.lives += 1
        self.lives.append(life)
        if life.killed:
            r.kills += 1
        elif life.returncode != 0:
            r.mismatches.append(
                f"life {r.lives} ({life.label}) exited {life.returncode}: {life.stderr[-1500:]}"
            )
        found = life.of("unfinished")
        if found and self.previous_label:
            states = Counter(str(v["state"]) for v in found[0]["vends"]) or Counter(["none"])
            r.left_behind.setdefault(self.previous_label, Counter()).update(states)
        self.previous_label = life.label if life.killed else ""
        for e in life.of("unexpected"):
            r.mismatches.append(f"life {r.lives}: {e['type']} escaped a service: {e['message']}")
        r.submitted += len(life.of("begin"))
        if life.killed:
            for e in life.interrupted():
                if self.rng.random() < self.plan.retry_share:
                    self.retries.append(f"{e['key']}:{e['account']}:{e['amount']}:{e['kind']}")
        return life

    # --- the verdict ---------------------------------------------------------------------------

    def verify(self, meters: dict[str, dict[str, Any]]) -> None:
        problems = self.report.mismatches
        site = json.loads(self.site_file.read_text(encoding="utf-8"))
        final = self.lives[-1].of("done")
        if not final:
            problems.append("the final recovery did not finish")
        elif final[0]["unfinished"]:
            problems.append(f"vends left unfinished: {final[0]['unfinished']}")
        check = subprocess.run(
            [sys.executable, "-m", "gateway", "db", "check", "--database", str(self.db)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=LIFE_TIMEOUT_S,
            check=False,
        )
        if check.returncode != 0:
            problems.append(f"prepaid-gateway db check failed: {check.stdout}{check.stderr}")
        with contextlib.closing(sqlite3.connect(self.db)) as c:
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA query_only = ON")
            for m in site:
                problems += verify_meter(c, m, meters[m["address"]])
            problems += self.verify_answers(c)
            self.report.confirmed = int(
                c.execute("SELECT count(*) FROM vends WHERE state = 'confirmed'").fetchone()[0]
            )

    def verify_answers(self, c: sqlite3.Connection) -> list[str]:
        """What an operator was shown stays true: a confirmed sale is never undone or changed,
        and a resubmitted key names the same vend."""
        problems: list[str] = []
        shown: dict[str, dict[str, Any]] = {}
        for life in self.lives:
            for e in life.of("result"):
                first = shown.setdefault(e["key"], e)
                if first["vend_id"] != e["vend_id"]:
                    problems.append(
                        f"key {e['key']}: vend {first['vend_id']}, later {e['vend_id']}"
                    )
                if first["state"] == "confirmed" and e["state"] != "confirmed":
                    problems.append(f"key {e['key']}: shown confirmed, later {e['state']}")
        for key, e in shown.items():
            row = c.execute(
                "SELECT id, state, amount_fen, energy_cwh FROM vends WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
            if row is None:
                problems.append(f"key {key}: shown as vend {e['vend_id']}, not in the ledger")
                continue
            if e["state"] == "confirmed" and (
                row["state"] != "confirmed"
                or (row["id"], row["amount_fen"], row["energy_cwh"])
                != (e["vend_id"], e["amount_fen"], e["energy_cwh"])
            ):
                problems.append(f"key {key}: shown confirmed as {e}, ledger has {dict(row)}")
        return problems


def verify_meter(
    c: sqlite3.Connection, site_meter: dict[str, Any], meter: dict[str, Any]
) -> list[str]:
    """One meter's registers against the ledger. Nothing is consumed (load 0), so what the
    meter holds is exactly what was sold to it."""
    address, meter_id = site_meter["address"], int(site_meter["meter_id"])
    energy = site_meter["kind"] == "energy"
    vends = c.execute(
        "SELECT id, amount_fen, energy_cwh, count_after FROM vends "
        "WHERE meter_id = ? AND state = 'confirmed' ORDER BY count_after",
        (meter_id,),
    ).fetchall()
    sales = c.execute(
        "SELECT id, vend_id, amount_fen, energy_cwh FROM ledger "
        "WHERE meter_id = ? AND kind = 'sale'",
        (meter_id,),
    ).fetchall()
    problems: list[str] = []

    def say(text: str) -> None:
        problems.append(f"meter {address}: {text}")

    counts = [v["count_after"] for v in vends]
    expected = list(range(1, int(meter["purchase_count"]) + 1))
    if counts != expected:
        missing = sorted(set(expected) - set(counts))
        twice = sorted(n for n, k in Counter(counts).items() if k > 1)
        say(
            f"meter count {meter['purchase_count']}, confirmed vends carry counts {counts} "
            f"(credited on the meter but not booked: {missing}; booked twice: {twice})"
        )
    by_vend = Counter(s["vend_id"] for s in sales)
    vend_ids = {v["id"] for v in vends}
    if set(by_vend) != vend_ids or any(k != 1 for k in by_vend.values()):
        say(f"sale rows per vend {dict(by_vend)} for confirmed vends {sorted(vend_ids)}")
    booked = {s["vend_id"]: (s["amount_fen"], s["energy_cwh"]) for s in sales}
    for v in vends:
        if booked.get(v["id"], (v["amount_fen"], v["energy_cwh"])) != (
            v["amount_fen"],
            v["energy_cwh"],
        ):
            say(f"vend {v['id']} sold {v['amount_fen']} fen but booked {booked[v['id']]}")
    sold = sum(s["energy_cwh"] if energy else s["amount_fen"] for s in sales)
    unit = "0.01 kWh" if energy else "fen"
    if sold != meter["cumulative_purchased"]:
        say(
            f"ledger sold {sold} {unit}, the meter's cumulative purchase register says "
            f"{meter['cumulative_purchased']}"
        )
    if sold != meter["remaining"]:
        say(f"ledger sold {sold} {unit}, the meter holds {meter['remaining']}")
    for v in vends:
        receipts = c.execute(
            "SELECT count(*) FROM receipts WHERE vend_id = ?", (v["id"],)
        ).fetchone()[0]
        events = c.execute(
            "SELECT count(*) FROM outbox WHERE stream = 'sales' "
            "AND json_extract(payload, '$.sale_id') = ?",
            (str(next((s["id"] for s in sales if s["vend_id"] == v["id"]), -1)),),
        ).fetchone()[0]
        if receipts != 1 or events != 1:
            say(f"vend {v['id']}: {receipts} receipts and {events} sales events (want 1 and 1)")
    return problems
