"""Deterministic, resumable data order for iteration-based training.

Each sample index comes with its own augmentation seed derived from (seed, epoch, position), so
the batch at a given step is the same whatever the number of DataLoader workers and whether the
run was interrupted and resumed in the middle of an epoch. Under DDP each rank takes a strided
share of the same permutation (like DistributedSampler).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class ResumableSampler(Sampler[tuple[int, int]]):
    def __init__(self, n: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True) -> None:
        if n < batch_size * world_size:
            raise ValueError(f"dataset has {n} samples, fewer than one global batch "
                             f"({batch_size} x {world_size} ranks)")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.epoch, self.start_batch = 0, 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // (self.batch_size * self.world_size)  # drop_last: every rank sees full batches

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        per_rank = self.batches_per_epoch * self.batch_size
        mine = order[self.rank: per_rank * self.world_size: self.world_size]
        for pos in range(self.start_batch * self.batch_size, per_rank):
            aug_seed = np.random.SeedSequence([self.seed, self.epoch, self.rank, pos]).generate_state(1)[0]
            yield int(mine[pos]), int(aug_seed)


class SeededDataset(Dataset):
    """Wraps a dataset whose `transform` has a `generator` attribute; items are (index, seed) pairs."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        self.dataset.transform.generator = torch.Generator().manual_seed(seed)
        return self.dataset[index]
