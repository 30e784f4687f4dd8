"""Where a meta-training run is: saved beside the stock state dict in every Trainer checkpoint, read back when a run
continues, so that a run continued after a crash draws the batches and seeds an uninterrupted run draws and
``meta.max_skipped_share`` judges the whole run."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields

logger = logging.getLogger(__name__)


@dataclass
class RunState:
    """Tasks seen and skipped (a non-finite or diverged loss), meta-batches whose every task was skipped (the Trainer
    does not count them as steps), meta-batches run (the position: which meta-batch and seeds come next) and
    training epochs finished."""

    seen: int = 0
    skipped: int = 0
    skipped_steps: int = 0
    batches: int = 0
    epochs: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> RunState:
        names = {f.name for f in fields(cls)}
        return cls(**{key: int(value) for key, value in (values or {}).items() if key in names})

    @property
    def trainer_steps(self) -> int:
        """The Trainer's step count at this position: meta-batches run, less those it did not count."""
        return self.batches - self.skipped_steps

    def count(self, seen: int, kept: int, max_share: float) -> None:
        """Count a meta-batch's tasks (over all ranks); stop training once more than ``max_share`` of them (after the
        first 20) were skipped."""
        self.seen += seen
        self.skipped += seen - kept
        if seen > kept:
            logger.warning("Skipped %d of %d tasks with a non-finite or diverged loss (%d so far)", seen - kept, seen,
                           self.skipped)
        if kept == 0:
            self.skipped_steps += 1
        if self.seen >= 20 and self.skipped > max_share * self.seen:
            raise RuntimeError(
                f"{self.skipped} of {self.seen} tasks had a non-finite or diverging support or query loss, more than "
                f"meta.max_skipped_share = {max_share}; check the data (silent or corrupt clips) or lower meta.inner_lr"
            )
