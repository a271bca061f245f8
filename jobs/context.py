"""What a stage entry module receives: the run, the config, its manifest record, its fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wfcore.config import Config
from wfcore.progress import StageProgress
from wfcore.run import RunDir


@dataclass
class StageContext:
    name: str
    run: RunDir
    cfg: Config
    fingerprint: str
    record: dict[str, Any] = field(default_factory=dict)

    def progress(self, total: int | None = None, unit: str = "shards") -> StageProgress:
        return StageProgress(self.name, total, unit)

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows rejected for ``reason`` in this stage's record."""
        if n <= 0:
            return
        by = self.record.setdefault("rejected_by_reason", {})
        by[reason] = by.get(reason, 0) + int(n)
        self.record["rows_rejected"] = self.record.get("rows_rejected", 0) + int(n)
