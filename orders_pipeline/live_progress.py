"""Live progress of a long step (issue 16): on a terminal, one status line redrawn in place
(files and MB landed of the total, records validated of those pending, the rate, an ETA; the
model a step is building and how many of its models are done); not on a terminal (cron, CI,
a log file), a plain line every ``PLAIN_EVERY`` seconds, so a long step is never silent and a
log holds no carriage returns. Each step still ends with its one line from ``progress.report``
(which erases the terminal line first, :func:`paused`).

Off unless the CLI turns it on (:func:`enable`): a Dagster run in the UI, and the tests, print
nothing extra. The counters come from the code doing the work (``landing.land`` per file, the
model steps per model) or, for work that is one long SQL statement (validation), from DuckDB's
own estimate of the running statement (``query_progress()`` of the step's connection, polled
by the redrawing thread); this module only renders.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

PLAIN_EVERY = 10.0  # seconds between plain lines when not on a terminal
REDRAW_EVERY = 0.25  # seconds between redraws of the terminal line
_CLEAR = "\r\x1b[K"

_stream: TextIO | None = None
_owned = False  # _stream is our own descriptor of stdout, closed by disable()
_active: LiveProgress | None = None  # the step whose line is on the terminal now


class QueryProgress(Protocol):
    """What live progress reads of a DuckDB connection (``DuckDBPyConnection``)."""

    def query_progress(self) -> float: ...


def enable(stream: TextIO | None = None) -> None:
    """Show live progress on ``stream`` from now on; by default on this process's stdout as
    it is now (:func:`_own_stdout`)."""
    global _stream, _owned
    _stream = stream or _own_stdout()
    _owned = _stream is not stream and _stream is not sys.stdout


def disable() -> None:
    """Show no live progress (the default)."""
    global _stream, _owned
    if _owned and _stream is not None:
        _stream.close()
    _stream, _owned = None, False


def output() -> TextIO | None:
    """Where live progress goes (``None``: off): the CLI prints its step lines there too, so
    the two stay in order."""
    return _stream


def _own_stdout() -> TextIO:
    """Stdout on a descriptor of our own. While a step runs, Dagster points descriptor 1 at the
    step's compute-log file and a ``tail`` process copies that file to the real stdout later:
    written there, the live line would be neither on a terminal (so never redrawn) nor in
    order with the lines around it, and would fill the compute logs with redraws."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stdout (pytest's capture)
        return sys.stdout
    sys.stdout.flush()
    return os.fdopen(os.dup(descriptor), "w", buffering=1, encoding=sys.stdout.encoding or "utf-8")


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
        total_records: int | None = None,
        total_models: int | None = None,
    ) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.total_records = total_records
        self.total_models = total_models
        self.files = 0
        self.bytes = 0
        self.records = 0
        # the records of the statements running now (a slice of the step's), and how many
        # the step had done before them: what DuckDB's percentage is a share of
        self.part_done = 0
        self.part_records = total_records
        self.models_done = 0
        self.model: str | None = None  # the model being built
        self.statement: float | None = None  # DuckDB's percentage of the running statement
        self._stream = stream
        self._clock = clock
        self._tty = stream.isatty() if tty is None else tty
        self._started = clock()
        self._last_plain = self._started
        self._drawn = False
        self._lock = threading.Lock()

    def line(self) -> str:
        """``landing: 12/97 files, 3.4/10.2 MB, 0.9 MB/s, 1,234 records, ETA 8 s``;
        ``validating odp_events: 51,200/120,000 records, 8,533 records/s, ETA 8 s``;
        ``models core: 2/5 done, building core/orders (43%), 12 s``; or
        ``validating odp_events: 6 s`` for a step without counters."""
        elapsed = self._clock() - self._started
        if self.total_models is not None:
            return self._models_line(elapsed)
        if self.total_records is not None:
            return self._records_line(elapsed)
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

    def _records_line(self, elapsed: float) -> str:
        parts = [f"{self.records:,}/{self.total_records:,} records"]
        if self.records and elapsed > 0:
            rate = self.records / elapsed
            parts.append(f"{rate:,.0f} records/s")
            remaining = (self.total_records or 0) - self.records
            # every record read: what is left is writing the outcomes, of unknown length
            parts.append(f"ETA {_duration(remaining / rate)}" if remaining > 0 else "writing")
        else:
            parts.append(_duration(elapsed))
        return f"{self.label}: {', '.join(parts)}"

    def _models_line(self, elapsed: float) -> str:
        parts = [f"{self.models_done}/{self.total_models} done"]
        if self.model is not None:
            running = f"building {self.model}"
            if self.statement is not None:
                running += f" ({self.statement:.0f}%)"
            parts.append(running)
        parts.append(_duration(elapsed))
        return f"{self.label}: {', '.join(parts)}"

    def poll(self, con: QueryProgress) -> None:
        """Read DuckDB's estimate of the statement ``con`` is running: for a step counting
        records, the records read so far (never going back: a step runs several statements,
        the first reading every pending record); for a model step, the running model's
        percentage. -1 (no statement running, or no estimate) changes nothing."""
        try:
            percent = con.query_progress()
        except Exception:  # the connection closed under us: the step is ending
            return
        with self._lock:
            if percent < 0:
                self.statement = None
                return
            self.statement = min(percent, 100.0)
            if self.part_records is not None:
                read = self.part_done + int(self.part_records * self.statement / 100)
                self.records = max(self.records, read)

    def part(self, done: int, records: int) -> None:
        """The step's next statements read ``records`` records, after ``done`` (a slice of
        a validation): DuckDB's percentage of a statement is then a share of those."""
        with self._lock:
            self.part_done, self.part_records = done, records
            self.records = max(self.records, done)
        self.render()

    def start_model(self, name: str) -> None:
        """A model step begins building ``name``."""
        with self._lock:
            self.model, self.statement = name, None
        self.render()

    def finish_model(self) -> None:
        """The model being built is done."""
        with self._lock:
            self.models_done += 1
            self.model, self.statement = None, None
        self.render()

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
            self._erase()

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write(_CLEAR)
            self._stream.flush()
            self._drawn = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Erase the terminal line and hold it off while another line is printed (a model's
        own line in the middle of its step); the next redraw puts it back below."""
        with self._lock:
            self._erase()
            yield


@contextmanager
def paused() -> Iterator[None]:
    """Hold the live line of the running step, if any, off the terminal while a line is
    printed (``progress.report``), so the two never share a line."""
    live = _active
    if live is None:
        yield
        return
    with live.paused():
        yield


@contextmanager
def task(
    label: str,
    total_files: int | None = None,
    total_bytes: int | None = None,
    *,
    total_records: int | None = None,
    total_models: int | None = None,
    con: QueryProgress | None = None,
) -> Iterator[LiveProgress | None]:
    """Live progress for the duration of a step, redrawn by a background thread so a step
    busy in one long statement still shows its time (and, given the step's DuckDB ``con``,
    how far DuckDB says the statement is); ``None`` when live progress is off."""
    global _active
    stream = _stream
    if stream is None:
        yield None
        return
    live = LiveProgress(
        label,
        stream,
        total_files,
        total_bytes,
        total_records=total_records,
        total_models=total_models,
    )
    stop = threading.Event()
    interval = REDRAW_EVERY if live._tty else 1.0

    def tick() -> None:
        while not stop.wait(interval):
            if con is not None:
                live.poll(con)
            live.render()

    ticker = threading.Thread(target=tick, name="orders-live-progress", daemon=True)
    _active = live
    progress_bar = _track_statements(con, True) if con is not None else None
    ticker.start()
    try:
        yield live
    finally:
        stop.set()
        ticker.join()
        _active = None
        if progress_bar is not None:
            _track_statements(con, False)
        live.close()


def _track_statements(con: object, on: bool) -> bool:
    """DuckDB estimates a statement's progress only with its progress bar on; its drawing
    stays off (``enable_progress_bar_print``): it would land in a caller's output (issue 16)."""
    execute = getattr(con, "execute", None)
    if execute is None:  # a stand-in connection (the tests)
        return False
    try:
        execute("set enable_progress_bar_print = false")
        execute(f"set enable_progress_bar = {'true' if on else 'false'}")
    except Exception:  # a failed statement's transaction: the step's own error matters
        return False
    return True
