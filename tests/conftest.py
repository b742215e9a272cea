"""Fixtures shared by every test folder: the tiny synthetic video sets (one builder, cached per session)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from a2video.preparation.synthetic import SyntheticSet, make_synthetic_set


@pytest.fixture(scope="session")
def synthetic_sets(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., SyntheticSet]:
    """``make(set_name, videos_per_class, seed)``: a set of 16-frame 32-pixel videos, made once per session."""
    made: dict[tuple, SyntheticSet] = {}

    def make(set_name: str, videos_per_class: int, seed: int) -> SyntheticSet:
        key = (set_name, videos_per_class, seed)
        if key not in made:
            root = tmp_path_factory.mktemp(f"synth_{set_name}_{videos_per_class}_{seed}")
            made[key] = make_synthetic_set(root, set_name, videos_per_class=videos_per_class, num_frames=16,
                                           size=32, seed=seed, workers=1)
        return made[key]

    return make


@pytest.fixture(scope="session")
def synthetic(synthetic_sets) -> SimpleNamespace:
    """The source (10 classes) and target (8 classes) sets with 3 videos per class: one train, one
    val and one test video per class, so in a training list a label names its video."""
    return SimpleNamespace(source=synthetic_sets("source", 3, 11), target=synthetic_sets("target", 3, 11))


@pytest.fixture(scope="session")
def tiny_source_set(synthetic_sets) -> SyntheticSet:
    """A source set with 5 videos per class (3 train, 1 val, 1 test): 30 training videos."""
    return synthetic_sets("source", 5, 3)
