"""The fault-injection switch itself: it kills exactly where and when it is told, and refuses a
point that does not exist (a misspelt point would make a crash test that kills nothing)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.services import crashpoints
from gateway.services.crashpoints import ENVIRONMENT, POINTS, CrashPointError, parse

REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
from gateway.services import crashpoints
for i in range(1, 4):
    crashpoints.reached("vend.pending")
    crashpoints.reached("vend.sent")
    print("after", i, flush=True)
"""


def run(point: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT}
    if point is not None:
        env[ENVIRONMENT] = point
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_nth_hit_of_the_named_point_is_a_sigkill() -> None:
    done = run("vend.sent:2")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split("\n")[:-1] == ["after 1"]
    assert "crashpoint vend.sent:2" in done.stderr


def test_without_the_variable_nothing_happens() -> None:
    done = run(None)
    assert done.returncode == 0
    assert done.stdout.count("after") == 3


def test_an_unknown_point_is_refused_at_start() -> None:
    done = run("vend.snet")
    assert done.returncode == 1
    assert "CrashPointError" in done.stderr
    assert "vend.sent" in done.stderr  # the known points are listed


@pytest.mark.parametrize("text", ["vend.sent:0", "vend.sent:x", "nowhere"])
def test_bad_settings_are_refused(text: str) -> None:
    with pytest.raises(CrashPointError):
        parse(text)


def test_every_point_marked_in_the_services_is_a_known_point() -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (REPO / "gateway" / "services").glob("*.py")
        if p.name != "crashpoints.py"
    )
    used = set(re.findall(r'crashpoints\.reached\("([^"]+)"\)', source))
    assert used == set(POINTS)
    assert crashpoints.parse("") is None
