"""Stage-level progress line: stage, shards done/total, rows/s, ETA (stderr)."""

from __future__ import annotations

import sys
import time


class StageProgress:
    def __init__(self, stage: str, total: int | None = None, unit: str = "shards", stream=None):
        self.stage = stage
        self.total = total
        self.unit = unit
        self.done = 0
        self.rows = 0
        self.t0 = time.time()
        self._last = 0.0
        self.stream = stream or sys.stderr

    def advance(self, n: int = 1, rows: int = 0, force: bool = False) -> None:
        self.done += n
        self.rows += rows
        now = time.time()
        if force or now - self._last >= 1.0 or (self.total is not None and self.done >= self.total):
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        el = max(time.time() - self.t0, 1e-6)
        rate = self.rows / el
        parts = [f"[{self.stage}]"]
        if self.total is not None:
            parts.append(f"{self.unit} {self.done}/{self.total}")
            if self.done and self.total > self.done:
                eta = el / self.done * (self.total - self.done)
                parts.append(f"ETA {eta:,.0f}s")
        else:
            parts.append(f"{self.unit} {self.done}")
        parts.append(f"{self.rows:,} rows, {rate:,.0f} rows/s, {el:,.1f}s")
        return "  ".join(parts)

    def note(self, msg: str) -> None:
        self.stream.write(f"[{self.stage}] {msg}\n")
        self.stream.flush()
