"""An endless, seeded stream of training-row indices, so every optimizer step gets exactly its prompts.

Few-shot sets are small (8-400 prompts) while a run is counted in optimizer steps; each pass over the rows is a
fresh permutation drawn from (seed, pass). The stream is a pure function of (seed, position), so a resumed run
skips to its position and sees the same prompts as an uninterrupted one. Left out: distributed sharding
(Lightning's DistributedSampler wrapper is not used with this sampler; each rank offsets by its rank).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class StepSampler(Sampler[int]):
    def __init__(self, n: int, *, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        if n <= 0:
            raise ValueError("StepSampler needs at least one row")
        self.n = n
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world_size = world_size

    def index(self, position: int) -> int:
        """The row at stream position `position`."""
        epoch, offset = divmod(position, self.n)
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return int(torch.randperm(self.n, generator=g)[offset])

    def __iter__(self) -> Iterator[int]:
        pos = self.start * self.world_size + self.rank
        perm_epoch, perm = -1, None
        while True:
            epoch, offset = divmod(pos, self.n)
            if epoch != perm_epoch:
                g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
                perm, perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
            yield perm[offset]
            pos += self.world_size
