"""The ``a2video`` command. Training, validation and testing go through Lightning's CLI; the
other subcommands are small argparse programs beside it.

    a2video fit|validate|test --config configs/....yaml [--key value ...]
    a2video demo                         synthetic pre-train → fine-tune → multi-view test
    a2video synth --out DIR ...          generate the synthetic video sets
    a2video lists ucf101|kinetics|folder build list files from real datasets
    a2video flops --model a2net_r50      parameters and GMACs per view
    a2video average-splits A.json B.json C.json
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from a2video.errors import A2VideoError

USAGE = __doc__.split("\n\n", 1)[1]


def _fit_validate_test(argv: list[str]) -> int:
    from a2video.engine.cli import run_lightning

    return run_lightning(argv)


def _demo(argv: list[str]) -> int:
    from a2video.engine.demo import demo_main

    return demo_main(argv)


def _synth(argv: list[str]) -> int:
    from a2video.data.commands import synth_main

    return synth_main(argv)


def _lists(argv: list[str]) -> int:
    from a2video.data.commands import lists_main

    return lists_main(argv)


def _flops(argv: list[str]) -> int:
    from a2video.models.commands import flops_main

    return flops_main(argv)


def _average_splits(argv: list[str]) -> int:
    from a2video.evaluation.commands import average_splits_main

    return average_splits_main(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "demo": _demo,
    "synth": _synth,
    "lists": _lists,
    "flops": _flops,
    "average-splits": _average_splits,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``a2video`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(f"usage: a2video <command> [options]\n\n{USAGE}")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    try:
        if command in ("fit", "validate", "test"):
            return _fit_validate_test(args)
        if command not in COMMANDS:
            print(f"a2video: error: unknown command {command!r}; choose from fit, validate, test, "
                  f"{', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return COMMANDS[command](rest)
    except (A2VideoError, FileNotFoundError) as error:
        # The user's input is wrong, not the program: one line, no traceback. Bad training videos
        # keep their list of paths (one per line).
        text = str(error) if type(error).__name__ == "TooManyBadVideos" else _one_line(error)
        print(f"a2video: error: {text}", file=sys.stderr)
        return getattr(error, "exit_code", 1)
    except KeyboardInterrupt:
        print("a2video: interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    text = str(error) if not isinstance(error, FileNotFoundError) or not error.filename else (
        f"{error.strerror or 'file not found'}: {error.filename}")
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
