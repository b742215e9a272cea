"""Repository contracts: CI runs the README's test command; the demo's configs are the shipped ones."""

from __future__ import annotations

import re
import shutil
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


def _run_ci_copy(tmp_path: Path, pytest_status: int = 0, *, chromium: bool = True, ffmpeg: bool = True,
                 uid: int = 0, apt_status: int = 0) -> tuple[int, list[str], str]:  # fmt: skip
    """Runs a copy of .ci/run on a machine faked on PATH (nothing else there): a ``python3`` whose
    venv's pip and pytest log their arguments (pytest exits with ``pytest_status``), ``apt-get`` and
    ``sudo`` that log theirs, ``ldconfig`` showing FFmpeg's libraries or not, ``chromium`` or not,
    and ``id -u`` saying ``uid``. Returns the exit status, the log's lines and stderr."""
    repo, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "log"
    (repo / ".ci").mkdir(parents=True)
    (repo / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    (repo / ".venv" / "bin").mkdir(parents=True)  # what `python3 -m venv .venv` would make
    bin_dir.mkdir()
    for tool in ("dirname", "grep", "env"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    fakes = {
        bin_dir / "python3": f'echo "python3 $*" >> {log}',
        repo / ".venv" / "bin" / "pip": f'echo "pip $*" >> {log}',
        repo / ".venv" / "bin" / "python": f'echo "$* browser=$A2VIDEO_REQUIRE_BROWSER '
                                           f'torchcodec=$A2VIDEO_REQUIRE_TORCHCODEC" >> {log}; exit {pytest_status}',
        bin_dir / "apt-get": f'echo "apt-get $*" >> {log}; exit {apt_status}',
        bin_dir / "sudo": f'echo "sudo $1" >> {log}; exec "$@"',
        bin_dir / "id": f"echo {uid}",
        bin_dir / "ldconfig": "echo '\tlibavdevice.so.59 (libc6,x86-64) => /lib/libavdevice.so.59'" if ffmpeg else "true",
    }  # fmt: skip
    if chromium:
        fakes[bin_dir / "chromium"] = "true"
    for path, body in fakes.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    result = subprocess.run([shutil.which("bash"), str(repo / ".ci" / "run")], env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    return result.returncode, log.read_text().splitlines(), result.stderr


def test_ci_fails_when_pytest_collects_nothing(tmp_path):
    assert _run_ci_copy(tmp_path / "five", 5)[0] != 0
    assert _run_ci_copy(tmp_path / "one", 1)[0] == 1
    assert _run_ci_copy(tmp_path / "zero", 0)[0] == 0


def test_ci_installs_ffmpeg_chromium_and_the_torchcodec_extra_and_requires_them(tmp_path):
    status, log, _ = _run_ci_copy(tmp_path / "bare", chromium=False, ffmpeg=False)
    assert status == 0
    assert log[:2] == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends chromium ffmpeg"]
    assert log[2:] == ["python3 -m venv .venv", "pip install -e .[test,torchcodec]",
                       "-m pytest -q browser=1 torchcodec=1"]  # fmt: skip
    # What is there already is not installed again.
    assert _run_ci_copy(tmp_path / "libraries", chromium=False)[1][1].endswith("--no-install-recommends chromium")
    assert not any(line.startswith("apt-get") for line in _run_ci_copy(tmp_path / "all")[1])
    # Not root: through sudo (a developer's machine); apt failing is said, and the tests still run.
    status, log, err = _run_ci_copy(tmp_path / "user", ffmpeg=False, uid=1000, apt_status=100)
    assert log[:2] == ["sudo apt-get", "apt-get update -qq"] and log[-1].endswith("torchcodec=1")
    assert status == 0 and ".ci/run: could not install ffmpeg" in err


def test_the_readme_gives_ci_itself_as_the_one_command_for_what_ci_has():
    section = (ROOT / "README.md").read_text().split("## Running the tests", 1)[1].split("\n## ", 1)[0]
    blocks = [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]
    assert blocks == [readme_command("Running the tests"), "bash .ci/run"]
    assert "`ffmpeg`" in section and "`chromium`" in section  # the packages it installs, named


def test_shipped_demo_configs_are_what_the_demo_runs():
    expected = demo_configs("a2video_demo")
    for stage in ("pretrain", "finetune"):
        shipped = yaml.safe_load((ROOT / "configs" / f"synthetic_demo_{stage}.yaml").read_text())
        assert shipped == expected[stage], stage
