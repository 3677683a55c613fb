"""Fixtures shared by all test folders."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import pty_pair


@pytest.fixture
def ptys(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """(gateway-side pty path, meter-side pty path, socat process)."""
    with pty_pair(tmp_path) as pair:
        yield pair


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
