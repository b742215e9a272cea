"""Fixtures of the engine tests: two tiny synthetic sets and one trained run (see engine_helpers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from a2video.data.synthetic import make_synthetic_set
from engine_helpers import run_ok, tiny_config, write_config


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The source (10 classes) and target (8 classes) sets, 3 videos of 16 frames of 32 px per class."""
    root = tmp_path_factory.mktemp("engine_synth")
    kw = dict(videos_per_class=3, num_frames=16, size=32, seed=11, workers=1)
    return SimpleNamespace(source=make_synthetic_set(root, "source", **kw),
                           target=make_synthetic_set(root, "target", **kw))


@pytest.fixture(scope="session")
def source_run(synthetic: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One 2-epoch fit on the source set, then ``a2video test`` of its last checkpoint."""
    root = tmp_path_factory.mktemp("source_run")
    run_dir = root / "run"
    config = write_config(root / "source.yaml", tiny_config(synthetic.source, run_dir))
    run_ok("fit", "--config", config)
    last = run_dir / "checkpoints" / "last.ckpt"
    run_ok("test", "--config", config, "--ckpt_path", last)
    return SimpleNamespace(dir=run_dir, config=config, last=last, dataset=synthetic.source)
