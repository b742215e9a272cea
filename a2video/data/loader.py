"""Rank-aware, resumable sampling for the Lightning loop.

Lightning restores model, optimizer, scheduler and loop counters, but a plain DataLoader restarts
its epoch from the first batch and reshuffles with whatever the global RNG holds. Here the order of
an epoch is a pure function of (seed, epoch), each rank takes its own slice, and the loader reports
how far the epoch got (Lightning's ``_Stateful`` protocol), so a resumed run sees exactly the
batches the interrupted one had not yet seen.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from torch.utils.data import DataLoader, Sampler


def item_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for one sample, independent of worker count and of where a run was resumed."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class EpochSampler(Sampler):
    """Shuffled (or ordered) indices for one rank, reproducible from (seed, epoch).

    Training pads the permutation so every rank gets the same number of samples (DDP needs equal
    step counts); evaluation (``pad=False``) gives each rank a disjoint share with nothing repeated.

    Args:
        length: dataset size.
        shuffle: permute per epoch.
        seed: base seed of the permutations and of the per-item seeds.
        rank: this process's rank.
        world_size: number of processes.
        pad: repeat samples so that ``length`` divides evenly over ranks.
        with_item_seeds: yield ``(index, seed)`` pairs so a dataset can draw its augmentation from
            a seed that does not depend on the worker that happens to load the item.
    """

    def __init__(
        self,
        length: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
        with_item_seeds: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.with_item_seeds = with_item_seeds
        self.epoch = 0
        self._start = 0  # samples of this rank's share to skip, once (set when resuming mid-epoch)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self._start = 0
        self.epoch = epoch

    def skip(self, samples: int) -> None:
        """Start the next iteration ``samples`` into this rank's share of the current epoch."""
        self._start = samples

    def rank_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, in order."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
        else:
            order = np.arange(self.length)
        if self.pad and self.world_size > 1 and self.length % self.world_size:
            extra = self.world_size - self.length % self.world_size
            order = np.concatenate([order, order[:extra]])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        indices = self.rank_indices()
        start, self._start = self._start, 0
        for position in range(start, len(indices)):
            index = int(indices[position])
            if self.with_item_seeds:
                yield index, item_seed(self.seed, self.epoch, position * self.world_size + self.rank)
            else:
                yield index

    def __len__(self) -> int:
        if self.pad:
            return -(-self.length // self.world_size)
        return len(range(self.rank, self.length, self.world_size))


class ResumableLoader(DataLoader):
    """A DataLoader over an :class:`EpochSampler` that Lightning can checkpoint and restore.

    ``progress`` returns how many batches of the current epoch the training loop has finished
    (Lightning prefetches a batch, so counting what this loader yielded would be one too many).
    """

    def __init__(self, dataset, *, sampler: EpochSampler, progress: Callable[[], int] | None = None, **kwargs) -> None:
        super().__init__(dataset, sampler=sampler, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        done = self.progress() if self.progress is not None else 0
        return {"epoch": self.sampler.epoch, "batches_done": int(done)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, done = int(state["epoch"]), int(state["batches_done"])
        if done >= len(self):  # saved at the end of an epoch: continue with the next one
            epoch, done = epoch + 1, 0
        self.sampler.set_epoch(epoch)
        self.sampler.skip(done * self.batch_size)
