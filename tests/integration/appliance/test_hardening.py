"""MemoryDenyWriteExecute=yes is safe for the gateway's native code.

The kernel's own W^X switch (prctl PR_SET_MDWE, Linux 6.3+) refuses writable+executable
memory the way systemd's MemoryDenyWriteExecute= does. A child process turns it on, then uses
every native extension the gateway loads: argon2 (cffi), cryptography (Rust/cffi), pyscard
(SWIG), Pillow/FreeType, ctypes callbacks (libffi). If a dependency ever needs W+X memory,
this fails before a gateway in the field does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import ctypes, mmap, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        error = os.strerror(ctypes.get_errno())
        sys.exit("the kernel refused PR_SET_MDWE (Linux 6.3 or later needed): " + error)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError:
        print("wx-refused")
    import argon2
    assert argon2.PasswordHasher().verify(argon2.PasswordHasher().hash("00000000"), "00000000")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    key.public_key().verify(key.sign(b"manifest"), b"manifest")
    import ssl
    ssl.create_default_context()
    import smartcard.System
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("1", (128, 64))
    ImageDraw.Draw(img).text((0, 0), "余额 12.34", font=ImageFont.load_default(), fill=1)
    import aiohttp, aiosqlite, sqlite3, jinja2, serial_asyncio_fast, gpiozero, luma.core.device
    sqlite3.connect(":memory:").execute("select 1")
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
    assert callback(1) == 2
    print("stack-ok")
    """
)


def test_gateway_stack_runs_without_writable_executable_memory() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # the first line proves the restriction was really on while the stack ran
    assert proc.stdout.split() == ["wx-refused", "stack-ok"]
