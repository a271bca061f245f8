"""Stage progress on stderr: units (shards, files) done / total, model rows done / total, rows/s, ETA.

On a terminal a model stage shows a live bar (rich) that moves with every answer; elsewhere
(CI logs, ``ray job submit``, a file) it prints one line every ``WF_PROGRESS_INTERVAL_S``
seconds (default 30) and one per committed unit, so logs show movement without flooding.
"""

from __future__ import annotations

import os
import sys
import time

DEFAULT_INTERVAL_S = 30.0


def interactive(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class StageProgress:
    def __init__(
        self,
        stage: str,
        total: int | None = None,
        unit: str = "shards",
        stream=None,
        interval_s: float | None = None,
    ):
        self.stage = stage
        self.total = total
        self.unit = unit
        self.done = 0
        self.rows = 0
        self.t0 = time.time()
        self._last = 0.0
        self.stream = stream or sys.stderr
        self.interval_s = (
            float(os.environ.get("WF_PROGRESS_INTERVAL_S", DEFAULT_INTERVAL_S))
            if interval_s is None
            else interval_s
        )
        self.model_total = 0  # model rows (answers) expected, done
        self.model_done = 0
        self._t_model = None
        self._last_model_line = 0.0
        self._bar = None  # (rich Progress, task id) on a terminal

    # ---- units (shards, files, steps)
    def advance(self, n: int = 1, rows: int = 0, force: bool = False) -> None:
        self.done += n
        self.rows += rows
        now = time.time()
        if force or now - self._last >= 1.0 or (self.total is not None and self.done >= self.total):
            self._last = now
            self._write(self.line())

    # ---- model rows (one per answer)
    def expect(self, n: int) -> None:
        """``n`` more model rows will be answered."""
        if self._t_model is None:
            self._t_model = time.time()
            self._last_model_line = self._t_model
        self.model_total += int(n)
        if interactive(self.stream) and self._bar is None and self.model_total:
            self._start_bar()
        if self._bar is not None:
            self._bar[0].update(self._bar[1], total=self.model_total)

    def answered(self, n: int = 1) -> None:
        self.model_done += int(n)
        if self._bar is not None:
            self._bar[0].update(
                self._bar[1], completed=self.model_done, rate=f"{self.model_rate():,.2f} rows/s"
            )
            return
        now = time.time()
        if now - self._last_model_line >= self.interval_s:
            self._last_model_line = now
            self._write(self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar[0].stop()
            self._bar = None

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        prog = Progress(
            TextColumn(f"[{self.stage}] rows", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
            refresh_per_second=4,
        )
        task = prog.add_task(self.stage, total=self.model_total, rate="")
        prog.start()
        self._bar = (prog, task)

    # ---- text
    def model_rate(self) -> float:
        return self.model_done / max(time.time() - (self._t_model or time.time()), 1e-6)

    def line(self) -> str:
        el = max(time.time() - self.t0, 1e-6)
        parts: list[str] = []
        if self.model_total:
            rate = self.model_rate()
            pct = 100.0 * self.model_done / self.model_total
            parts.append(
                f"rows {self.model_done:,}/{self.model_total:,} ({pct:.0f}%), {rate:,.2f} rows/s"
            )
            left = self.model_total - self.model_done
            if self.model_done and left > 0:
                parts.append(f"ETA {left / max(rate, 1e-9):,.0f}s")
        if self.total is not None:
            parts.append(f"{self.unit} {self.done}/{self.total}")
            if not self.model_total and self.done and self.total > self.done:
                parts.append(f"ETA {el / self.done * (self.total - self.done):,.0f}s")
        else:
            parts.append(f"{self.unit} {self.done}")
        if not self.model_total:
            parts.append(f"{self.rows:,} rows, {self.rows / el:,.0f} rows/s")
        parts.append(f"{el:,.1f}s")
        return f"[{self.stage}] " + "  ".join(parts)

    def note(self, msg: str) -> None:
        self._write(f"[{self.stage}] {msg}")

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar[0].console.print(text, markup=False, highlight=False)
            return
        self.stream.write(text + "\n")
        self.stream.flush()
