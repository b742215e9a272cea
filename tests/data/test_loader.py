"""EpochSampler / ResumableLoader: per-rank shares, reproducible order, mid-epoch resume."""

import pytest
import torch
from torch.utils.data import Dataset

from a2video.data.loader import EpochSampler, ResumableLoader, item_seed


class Echo(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, key):
        return torch.tensor(key if isinstance(key, int) else key[0])


@pytest.mark.parametrize("length, world", [(10, 1), (10, 3), (9, 3), (1, 2)])
def test_ranks_cover_dataset_with_equal_shares(length, world):
    shares = [list(EpochSampler(length, seed=3, rank=r, world_size=world)) for r in range(world)]
    assert len({len(s) for s in shares}) == 1  # equal steps per rank (DDP)
    assert all(len(s) == len(EpochSampler(length, rank=r, world_size=world)) for r, s in enumerate(shares))
    assert set().union(*map(set, shares)) == set(range(length))


def test_eval_shares_are_disjoint_without_padding():
    shares = [list(EpochSampler(10, shuffle=False, pad=False, rank=r, world_size=4)) for r in range(4)]
    flat = sorted(i for s in shares for i in s)
    assert flat == list(range(10))
    assert [len(s) for s in shares] == [len(EpochSampler(10, pad=False, rank=r, world_size=4)) for r in range(4)]


def test_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(50, seed=1), EpochSampler(50, seed=1)
    assert list(a) == list(b) == list(a)  # iterating does not advance anything
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(EpochSampler(50, seed=2)) != list(b)
    assert sorted(a) == list(range(50))


def test_item_seeds_do_not_depend_on_world_size():
    """The sample at global position p gets the same seed whatever the number of ranks."""
    single = dict(enumerate(EpochSampler(12, seed=5, with_item_seeds=True)))
    for rank in range(3):
        sampler = EpochSampler(12, seed=5, rank=rank, world_size=3, with_item_seeds=True)
        for local, (index, seed) in enumerate(sampler):
            assert single[local * 3 + rank] == (index, seed)
    assert item_seed(5, 0, 0) != item_seed(5, 1, 0) != item_seed(6, 0, 0)


def test_resumed_loader_yields_the_rest_of_the_epoch():
    def loader(done):
        sampler = EpochSampler(20, seed=0)
        return ResumableLoader(Echo(20), sampler=sampler, batch_size=3, progress=lambda: done)

    full = [b.tolist() for b in loader(0)]
    interrupted = loader(4)
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "batches_done": 4}
    resumed = loader(0)
    resumed.load_state_dict(state)
    assert [b.tolist() for b in resumed] == full[4:]
    assert [b.tolist() for b in resumed] == full  # the skip applies once


def test_state_saved_at_epoch_end_moves_to_next_epoch():
    sampler = EpochSampler(9, seed=0)
    loader = ResumableLoader(Echo(9), sampler=sampler, batch_size=3)
    loader.load_state_dict({"epoch": 2, "batches_done": 3})
    assert sampler.epoch == 3
    expected = EpochSampler(9, seed=0)
    expected.set_epoch(3)
    assert torch.cat(list(loader)).tolist() == list(expected)
