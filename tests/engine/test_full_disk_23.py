"""Issue 23 item 3: a checkpoint save on a real full file system (a 6 MiB tmpfs), not an injected
``OSError``: torch's zip writer then raises ``RuntimeError: ... unexpected pos``. One line, the
previous checkpoint intact, exit non-zero. Needs root or user namespaces to mount a tmpfs; skipped
with the reason otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine_helpers import STEPS_PER_EPOCH, load_checkpoint, tiny_config, write_config

REPO = Path(__file__).resolve().parents[2]

# Runs inside the mount namespace: fit one epoch on the tmpfs, fill it to half a checkpoint's
# size, fit a second epoch (its last.ckpt cannot fit), copy the results out.
CHILD = textwrap.dedent("""
    import json, os, shutil, subprocess, sys
    mount, out, config1, config2 = sys.argv[1:5]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mount], check=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    first = subprocess.run([sys.executable, "-m", "a2video", "fit", "--config", config1], capture_output=True, text=True, env=env)
    last = os.path.join(mount, "run", "checkpoints", "last.ckpt")
    result = {"first_rc": first.returncode, "first_err": first.stderr[-2000:]}
    if first.returncode == 0:
        st = os.statvfs(mount)
        with open(os.path.join(mount, "filler"), "wb") as f:
            f.write(bytes(st.f_bavail * st.f_frsize - os.path.getsize(last) // 2))
        second = subprocess.run([sys.executable, "-m", "a2video", "fit", "--config", config2], capture_output=True, text=True, env=env)
        result |= {"rc": second.returncode, "err": second.stderr, "files": sorted(os.listdir(os.path.dirname(last)))}
        shutil.copy(last, os.path.join(out, "last.ckpt"))
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)
    subprocess.run(["umount", mount])
""")


def _namespace_prefix(probe_dir: Path) -> list[str] | None:
    """[] as root, ["unshare", "-rm"] with user namespaces, None when no tmpfs can be mounted."""
    probe_dir.mkdir()
    script = f"mount -t tmpfs -o size=1m tmpfs {probe_dir} && umount {probe_dir}"
    candidates = ([[]] if os.geteuid() == 0 else []) + ([["unshare", "-rm"]] if shutil.which("unshare") else [])
    for prefix in candidates:
        if prefix == [] and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0:
            prefix = ["unshare", "-m"]  # a private mount namespace even as root: nothing leaks on a crash
        if subprocess.run([*prefix, "sh", "-c", script], capture_output=True).returncode == 0:
            return prefix
    return None


def test_real_full_disk_is_one_line_and_keeps_the_previous_checkpoint(synthetic, tmp_path):
    prefix = _namespace_prefix(tmp_path / "probe")
    if prefix is None:
        pytest.skip("cannot mount a tmpfs here (not root, no user namespaces)")
    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir(), out.mkdir()
    run_dir = mount / "run"
    config1 = write_config(tmp_path / "c1.yaml", tiny_config(synthetic.source, run_dir, epochs=1, val=False))
    config2 = write_config(tmp_path / "c2.yaml", tiny_config(synthetic.source, run_dir, epochs=2, val=False))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([*prefix, sys.executable, "-c", CHILD, str(mount), str(out), str(config1), str(config2)],
                   check=True, timeout=300, env=env)
    result = json.loads((out / "result.json").read_text())
    assert result["first_rc"] == 0, result["first_err"]
    err = result["err"]
    assert result["rc"] == 1, err
    assert "Traceback" not in err and "inline_container" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("a2video: error:")]
    assert len(errors) == 1 and "cannot write checkpoint" in errors[0] and "the disk is full" in errors[0], err
    assert "is intact" in errors[0]
    assert result["files"] == ["last.ckpt"], "no temporary or half-written checkpoint left"
    assert load_checkpoint(out / "last.ckpt")["global_step"] == STEPS_PER_EPOCH
