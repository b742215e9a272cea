"""Repository contracts: CI runs the README's test command; the demo's configs are the shipped ones."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from a2video.demo.recipe import demo_configs

ROOT = Path(__file__).resolve().parents[1]


def readme_command(section: str) -> str:
    """The single line in the first ```bash block after a README heading."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}", 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.S).group(1).strip()
    assert "\n" not in block, f"README's {section!r} block must be one command"
    return block


def test_ci_runs_exactly_the_readme_test_command():
    command = readme_command("Running the tests")
    assert "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert any(line == command or line.startswith(command + " ||") for line in ci_lines), command


def test_readme_demo_command_runs_the_demo():
    assert readme_command("Quick start").endswith("a2video demo")


def _fake_python(tmp_path: Path, pytest_status: int) -> dict[str, str]:
    """A ``python3`` on PATH whose venv's pip succeeds and whose pytest exits with ``pytest_status``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        'mkdir -p .venv/bin\n'
        'printf "#!/bin/sh\\nexit 0\\n" > .venv/bin/pip\n'
        f'printf "#!/bin/sh\\nexit {pytest_status}\\n" > .venv/bin/python\n'
        "chmod +x .venv/bin/pip .venv/bin/python\n"
    )
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _run_ci_copy(tmp_path: Path, pytest_status: int) -> int:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    env = _fake_python(tmp_path, pytest_status)
    return subprocess.run(["bash", str(repo / ".ci" / "run")], env=env, capture_output=True, timeout=60).returncode


def test_ci_fails_when_pytest_collects_nothing(tmp_path):
    assert _run_ci_copy(tmp_path / "five", 5) != 0
    assert _run_ci_copy(tmp_path / "one", 1) == 1
    assert _run_ci_copy(tmp_path / "zero", 0) == 0


def test_shipped_demo_configs_are_what_the_demo_runs():
    expected = demo_configs("a2video_demo")
    for stage in ("pretrain", "finetune"):
        shipped = yaml.safe_load((ROOT / "configs" / f"synthetic_demo_{stage}.yaml").read_text())
        assert shipped == expected[stage], stage
