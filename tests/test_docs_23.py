"""Issue 23 item 6: what the README and docs/DEMO.md say about models and options is what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from a2video.cli import build_parser
from a2video.models import create_model

ROOT = Path(__file__).resolve().parents[1]


def _attention_blocks(name: str) -> int:
    return sum(1 for module_name, _ in create_model(name, num_classes=4).named_modules()
               if module_name.endswith(".attention"))  # fmt: skip


def test_stated_a2_block_counts_are_the_models():
    readme, demo = (ROOT / "README.md").read_text(), (ROOT / "docs" / "DEMO.md").read_text()
    stated = re.findall(r"\| `(a2net_r\d+)` \| \+ (\d+) A² blocks", readme)
    stated += re.findall(r"`(a2net_r\d+)` \(ResNet-\d+ \+ (\d+) A² blocks", demo)
    assert {name for name, _ in stated} >= {"a2net_r26", "a2net_r50"}, stated
    for name, count in stated:
        assert int(count) == _attention_blocks(name), (name, count)


def test_commands_the_readme_gives_device_to_take_it():
    readme = (ROOT / "README.md").read_text()
    sentences = [s for s in re.split(r"(?<=\.)\s", readme) if "(`--device`)" in s]
    assert sentences
    for sentence in sentences:
        before = sentence.split("(`--device`)")[0].split(";")[-1]
        for command in re.findall(r"`(predict|export|features)`", before):
            parser, _ = build_parser(command)
            assert any("--device" in action.option_strings for action in parser._actions), command
