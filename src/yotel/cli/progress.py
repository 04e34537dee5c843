"""A progress bar on stderr for long CLI commands (`yotel leads import`). On a terminal it
redraws one line; otherwise (a log file, CI) it prints a line every 10 % so logs stay short."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, total: int, *, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._last_decile = -1

    def advance(self, count: int) -> None:
        self.done = min(self.done + count, self.total) if self.total else self.done + count
        decile = self.done * 10 // self.total if self.total else 10
        if self._tty:
            self._stream.write("\r" + self._line())
        elif decile != self._last_decile:
            self._stream.write(self._line() + "\n")
        self._last_decile = decile
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\r" + self._line() + "\n")
            self._stream.flush()

    def _line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * fraction)
        elapsed = time.monotonic() - self._started
        return (f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                f"{self.done}/{self.total} {fraction:4.0%} {elapsed:.1f}s")
