"""Live progress of a long step (issue 16): on a terminal, one status line redrawn in place
(files and MB landed of the total, the rate, an ETA; or the seconds a step has been running);
not on a terminal (cron, CI, a log file), a plain line every ``PLAIN_EVERY`` seconds, so a
long step is never silent and a log holds no carriage returns. Each step still ends with its
one line from ``progress.report``.

Off unless the CLI turns it on (:func:`enable`): a Dagster run in the UI, and the tests, print
nothing extra. The counters come from the code doing the work (``landing.land`` per file);
this module only renders.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

PLAIN_EVERY = 10.0  # seconds between plain lines when not on a terminal
REDRAW_EVERY = 0.25  # seconds between redraws of the terminal line
_CLEAR = "\r\x1b[K"

_stream: TextIO | None = None


def enable(stream: TextIO | None = None) -> None:
    """Show live progress on ``stream`` (stdout by default) from now on."""
    global _stream
    _stream = stream or sys.stdout


def disable() -> None:
    """Show no live progress (the default)."""
    global _stream
    _stream = None


def _megabytes(n: float) -> str:
    return f"{n / 1_000_000:,.1f}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class LiveProgress:
    """The counters of one step and their rendering; ``advance`` after each unit of work."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        total_files: int | None = None,
        total_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self.records = 0
        self._stream = stream
        self._clock = clock
        self._tty = stream.isatty() if tty is None else tty
        self._started = clock()
        self._last_plain = self._started
        self._drawn = False
        self._lock = threading.Lock()

    def line(self) -> str:
        """``landing: 12/97 files, 3.4/10.2 MB, 0.9 MB/s, 1,234 records, ETA 8 s``, or
        ``validating odp_events: 6 s`` for a step without counters."""
        elapsed = self._clock() - self._started
        parts = []
        if self.total_files is not None:
            parts.append(f"{self.files:,}/{self.total_files:,} files")
        if self.total_bytes is not None:
            parts.append(f"{_megabytes(self.bytes)}/{_megabytes(self.total_bytes)} MB")
            if self.bytes and elapsed > 0:
                rate = self.bytes / elapsed
                parts.append(f"{_megabytes(rate)} MB/s")
        if self.records:
            parts.append(f"{self.records:,} records")
            if elapsed > 0:
                parts.append(f"{self.records / elapsed:,.0f} records/s")
        if self.total_bytes and self.bytes and elapsed > 0:
            remaining = (self.total_bytes - self.bytes) / (self.bytes / elapsed)
            parts.append(f"ETA {_duration(remaining)}")
        else:
            parts.append(_duration(elapsed))
        return f"{self.label}: {', '.join(parts)}"

    def advance(self, files: int = 0, nbytes: int = 0, records: int = 0) -> None:
        """Count work done, and redraw (terminal) or print a plain line when one is due."""
        with self._lock:
            self.files += files
            self.bytes += nbytes
            self.records += records
        self.render()

    def render(self) -> None:
        """Redraw the terminal line, or print a plain line if ``PLAIN_EVERY`` has passed."""
        with self._lock:
            if self._tty:
                self._stream.write(f"{_CLEAR}  {self.line()}")
                self._drawn = True
            elif self._clock() - self._last_plain >= PLAIN_EVERY:
                self._last_plain = self._clock()
                self._stream.write(f"  {self.line()}\n")
            else:
                return
            self._stream.flush()

    def close(self) -> None:
        """Erase the terminal line, so the step's own line takes its place."""
        with self._lock:
            if self._drawn:
                self._stream.write(_CLEAR)
                self._stream.flush()
                self._drawn = False


@contextmanager
def task(
    label: str, total_files: int | None = None, total_bytes: int | None = None
) -> Iterator[LiveProgress | None]:
    """Live progress for the duration of a step, redrawn by a background thread so a step
    busy in one long statement still shows its time; ``None`` when live progress is off."""
    stream = _stream
    if stream is None:
        yield None
        return
    live = LiveProgress(label, stream, total_files, total_bytes)
    stop = threading.Event()
    interval = REDRAW_EVERY if live._tty else 1.0

    def tick() -> None:
        while not stop.wait(interval):
            live.render()

    ticker = threading.Thread(target=tick, name="orders-live-progress", daemon=True)
    ticker.start()
    try:
        yield live
    finally:
        stop.set()
        ticker.join()
        live.close()
