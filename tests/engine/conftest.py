"""Fixtures of the engine tests: one trained run (see engine_helpers; synthetic sets: tests/conftest.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine_helpers import run_ok, tiny_config, write_config


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
