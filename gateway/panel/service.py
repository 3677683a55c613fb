"""`Panel`: the asyncio service tying together state, menu, display, keys and lights.

- `update(state)` takes a new snapshot; `press(key)` takes a key (GPIO threads go through
  call_soon_threadsafe). Both are cheap and never block.
- A tick (every `tick_interval` s) sets the LEDs and buzzer, handles dimming and the screen saver,
  and redraws only when the view or what it shows changed. Rendering, PNG encoding and the I2C
  write run in a worker thread; the loop only awaits them.
- `latest_png()` is the last frame as PNG bytes, for the web UI's live mirror. It keeps showing
  the content while the OLED itself is dimmed or switched off by the screen saver.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from PIL import Image

from gateway.panel.backend import PanelBackend
from gateway.panel.canvas import HEIGHT, WIDTH
from gateway.panel.config import PanelConfig
from gateway.panel.display import DisplaySink, open_display
from gateway.panel.effects import Effect
from gateway.panel.executor import EffectRunner
from gateway.panel.fonts import load_font
from gateway.panel.gpio import Gpio, open_gpio
from gateway.panel.indicators import indicator_outputs
from gateway.panel.keys import Key
from gateway.panel.machine import PanelMachine
from gateway.panel.pin import verify_pin
from gateway.panel.screens import render_view
from gateway.panel.state import PanelState
from gateway.panel.views import View

log = logging.getLogger(__name__)

ScreenMode = Literal["on", "dim", "off"]
# Grace for an action in flight (a sale) to finish when the panel stops.
_STOP_GRACE_S = 5.0
# A failing display (loose I2C cable) is retried this often, not on every tick.
_DISPLAY_RETRY_S = 5.0


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _new_key() -> str:
    return uuid.uuid4().hex


def _shown_state(state: PanelState) -> PanelState:
    """The state as far as the screens can show it: the clock only to the minute."""
    if state.now is None:
        return state
    return dataclasses.replace(state, now=state.now.replace(second=0, microsecond=0))


class Panel:
    def __init__(
        self,
        config: PanelConfig,
        backend: PanelBackend,
        *,
        display: DisplaySink | None = None,
        use_gpio: bool = True,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
        new_key: Callable[[], str] = _new_key,
        verify: Callable[[str, str], bool] = verify_pin,
        tick_interval: float | None = 0.1,
    ) -> None:
        """`display`: a luma device (default: open from config, falling back to a dummy).
        `pin_factory`: a gpiozero pin factory (default: gpiozero's own choice).
        `tick_interval`: None means no background loop; the caller drives `tick()` (tests).
        """
        self.config = config
        self.font = load_font(config.font)
        self._clock = clock
        self._display = display
        self._use_gpio = use_gpio
        self._pin_factory = pin_factory
        self._tick_interval = tick_interval
        self._state = PanelState(language=config.language)
        self.machine = PanelMachine(
            keypad=config.keypad.kind,
            font=self.font,
            relay_enabled=config.relay_enabled,
            topup_enabled=config.topup_enabled,
            topup_max_fen=config.topup_max_fen,
            new_key=new_key,
        )
        self._silenced: frozenset[str] = frozenset()
        self.runner = EffectRunner(
            backend,
            config,
            clock=clock,
            silence=self._silence,
            unacknowledged=lambda: sorted(self._state.unacknowledged_ids()),
            verify=verify,
        )
        self.gpio: Gpio | None = None
        self.has_display = False
        self._image = Image.new("1", (WIDTH, HEIGHT), 0)
        self._png_bytes = _png(self._image)
        self._drawn: tuple[View, PanelState] | None = None
        self._mode: ScreenMode = "on"
        self._applied_mode: ScreenMode = "on"
        self._last_activity = clock()
        self._display_failing = False
        self._retry_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._effects: set[asyncio.Task[None]] = set()
        # Counters for diagnostics and tests.
        self.redraws = 0
        self.key_count = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._display is None:
            self._display, self.has_display = await asyncio.to_thread(open_display, self.config)
        if self._use_gpio:
            self.gpio = await asyncio.to_thread(
                open_gpio, self.config, self._key_from_thread, self._pin_factory
            )
        self._last_activity = self._clock()
        await self.tick()
        if self._tick_interval is not None:
            self._task = asyncio.create_task(self._run(self._tick_interval), name="panel")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._effects:
            _done, pending = await asyncio.wait(self._effects, timeout=_STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.gpio is not None:
            await asyncio.to_thread(self.gpio.close)
            self.gpio = None
        if self._display is not None:
            display = self._display
            self._display = None
            try:
                await asyncio.to_thread(display.cleanup)
            except Exception as exc:
                log.warning("panel: display cleanup failed: %s", exc)

    async def __aenter__(self) -> Panel:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self, interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("panel: tick failed")
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    # -- inputs ----------------------------------------------------------------------------

    @property
    def state(self) -> PanelState:
        return self._state

    def update(self, state: PanelState) -> None:
        """A new snapshot from the gateway. A new unacknowledged alarm wakes the screen."""
        if state.unacknowledged_ids() - self._state.unacknowledged_ids():
            self._last_activity = self._clock()
        self._state = state
        self._wake.set()

    def press(self, key: Key) -> None:
        """A key press, on the event loop thread."""
        self.key_count += 1
        self._last_activity = self._clock()
        self._wake.set()
        if self._mode == "off":
            return  # the first key only wakes a dark screen: nobody saw what it would select
        effect = self.machine.press(key, self._state)
        if effect is not None:
            self._spawn(effect)

    def _key_from_thread(self, key: Key) -> None:
        loop = self._loop
        if loop is None:
            return
        # RuntimeError: the loop has closed (shutting down); the key no longer matters.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.press, key)

    def _silence(self) -> int:
        self._silenced = self._state.unacknowledged_ids()
        return len(self._silenced)

    def _spawn(self, effect: Effect) -> None:
        task = asyncio.create_task(self._execute(effect), name=f"panel-{type(effect).__name__}")
        self._effects.add(task)
        task.add_done_callback(self._effects.discard)

    async def _execute(self, effect: Effect) -> None:
        outcome = await self.runner.run(effect)
        self.machine.complete(outcome)
        self._last_activity = self._clock()
        self._wake.set()

    async def settle(self) -> None:
        """Wait for the actions in flight, then tick once (tests and shutdown)."""
        while self._effects:
            await asyncio.gather(*list(self._effects), return_exceptions=True)
        await self.tick()

    # -- output ----------------------------------------------------------------------------

    def latest_png(self) -> bytes:
        """The last frame as a PNG (128x64, 1 bit), for the web UI's live mirror."""
        return self._png_bytes

    def latest_image(self) -> Image.Image:
        return self._image.copy()

    @property
    def screen_mode(self) -> ScreenMode:
        return self._mode

    async def tick(self) -> None:
        async with self._tick_lock:
            now = self._clock()
            if self.gpio is not None and self.gpio.lights is not None:
                self.gpio.lights.apply(indicator_outputs(self._state, self._silenced, now))
            self._mode = self._screen_mode(now - self._last_activity)
            inputs = (self.machine.view, _shown_state(self._state))
            redraw = inputs != self._drawn
            retry = self._display_failing and now >= self._retry_at
            if not (redraw or retry or self._mode != self._applied_mode):
                return
            mode = self._mode
            image, png, error = await asyncio.to_thread(self._draw, inputs, redraw, mode, retry)
            if redraw:
                self.redraws += 1
                self._image, self._png_bytes, self._drawn = image, png, inputs
            self._applied_mode = mode
            self._report_display(error)
            if error is not None:
                self._retry_at = now + _DISPLAY_RETRY_S

    def _screen_mode(self, idle: float) -> ScreenMode:
        cfg = self.config
        mode: ScreenMode = "on"
        if cfg.screensaver_after_s and idle >= cfg.screensaver_after_s:
            mode = "off"
        elif cfg.dim_after_s and idle >= cfg.dim_after_s:
            mode = "dim"
        if mode != "on" and self._mode == "on":
            # Nobody is at the panel: drop half-typed PINs and drafts.
            self.machine.home()
        return mode

    def _draw(
        self, inputs: tuple[View, PanelState], redraw: bool, mode: ScreenMode, force: bool
    ) -> tuple[Image.Image, bytes, Exception | None]:
        """Worker thread: render, encode, and write to the display."""
        image, png = self._image, self._png_bytes
        if redraw:
            view, state = inputs
            image = render_view(state, view, self.font)
            png = _png(image)
        display = self._display
        if display is None:
            return image, png, None
        try:
            if force or mode != self._applied_mode:
                if mode == "off":
                    display.hide()
                else:
                    display.contrast(
                        self.config.contrast if mode == "on" else self.config.dim_contrast
                    )
                    if force or self._applied_mode == "off":
                        display.show()
            if mode != "off":
                display.display(image)
        except Exception as exc:
            return image, png, exc
        return image, png, None

    def _report_display(self, error: Exception | None) -> None:
        if error is not None and not self._display_failing:
            self._display_failing = True
            log.warning("panel: display write failed (%s); will keep trying", error)
        elif error is None and self._display_failing:
            self._display_failing = False
            log.info("panel: display works again")
