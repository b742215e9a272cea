"""Every ``a2video`` subcommand answers a bad argument with one line and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from a2video.cli import COMMANDS, LIGHTNING_COMMANDS, main


@pytest.mark.parametrize("command", [*LIGHTNING_COMMANDS, *COMMANDS])
def test_bad_argument_is_one_line(command, capsys):
    rc = main([command, "--no-such-option", "1"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("a2video: error:")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"usage: a2video {command}" in capsys.readouterr().out


def test_usage_lists_every_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in [*LIGHTNING_COMMANDS, *COMMANDS])
    assert main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
