"""The training DataLoader as a LightningDataModule: an endless seeded stream, one optimizer step per batch.

The loader is built in `train_dataloader()`, after Lightning has set up the process group, so each rank takes its
own slice of every step's prompts (whole prompts; a prompt's G completions are sampled on the rank that owns it).
Images are opened and preprocessed by the collator, in DataLoader workers when `data.num_workers > 0`. Left out:
a validation loader (held-out evaluation runs through `vrft.evaluation.runner`).
"""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from vrft.data.sampler import StepSampler


class TrainData(L.LightningDataModule):
    def __init__(
        self,
        rows: list[dict],
        collate,
        *,
        prompts_per_step: int,
        seed: int,
        num_workers: int = 0,
        start_step: int = 0,
    ):
        super().__init__()
        self.rows = rows
        self.collate = collate
        self.prompts_per_step = prompts_per_step
        self.seed = seed
        self.num_workers = num_workers
        self.start_step = start_step

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        if self.prompts_per_step % world:
            raise ValueError(
                f"algo.prompts_per_step={self.prompts_per_step} must be a multiple of the "
                f"number of processes ({world})"
            )
        per_rank = self.prompts_per_step // world
        sampler = StepSampler(
            len(self.rows), seed=self.seed, start=self.start_step * per_rank, rank=rank, world_size=world
        )
        return DataLoader(
            self.rows,
            batch_size=per_rank,
            sampler=sampler,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
