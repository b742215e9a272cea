"""The ``a2video`` command.

``fit``, ``validate`` and ``test`` are LightningCLI (:mod:`a2video.engine.lightning_cli`): the config
schema is the typed ``__init__`` of the model and data classes. Every other subcommand follows one
pattern: ``a2video/commands/<name>.py`` defines ``configure_<name>(parser)`` (its arguments) and
``run_<name>(args)`` (the work, done by the library modules it calls); the table below lists them. Errors the user can fix are
:class:`~a2video.errors.A2VideoError` s: printed here as one line, exit code 2 for a usage or config
error, 1 for a run that failed, 143 for SIGTERM, 130 for Ctrl-C; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import NoReturn, Sequence

from a2video.errors import A2VideoError, ConfigError

LIGHTNING_COMMANDS = {
    "fit": "train (resumes from the run folder's newest checkpoint)",
    "validate": "validate a checkpoint on data.val_list",
    "test": "multi-view test of a checkpoint on data.test_list: metrics.json, predictions.csv, ...",
}


@dataclass(frozen=True)
class Command:
    """A subcommand: its code is ``a2video/commands/<name>.py`` (``configure_<name>`` and
    ``run_<name>``), imported only when the command runs (torch, Lightning and the decoders take
    seconds to import)."""

    help: str


COMMANDS: dict[str, Command] = {
    "demo": Command("synthetic pre-train → fine-tune → multi-view test, on a CPU in minutes"),
    "synth": Command("generate the synthetic motion video sets"),
    "lists": Command("build list files (ucf101, kinetics, hmdb51, ssv2, csv, folder)"),
    "prepare": Command("re-encode a dataset for fast loading (short side, key frames), resumable"),
    "check": Command("scan videos before a run: unreadable, too short, odd files (CSV)"),
    "flops": Command("parameters and GMACs of one view"),
    "convert": Command("PySlowFast/pytorchvideo/mmaction2 weights → a2video .ckpt"),
    "predict": Command("top-k classes of videos with a trained model (CSV, JSON)"),
    "export": Command("TorchScript, ONNX and torch.export files + preprocessing.json"),
    "features": Command("per-video pre-logit embeddings to .npz"),
    "analyze": Command("views curve, per-class, calibration, ensembles of test runs"),
    "explain": Command("the A² attention maps of a model on one video (MP4, PNG)"),
    "views": Command("the frames, times, pts and crops of each test view of videos"),
    "average-splits": Command("mean of several splits' metrics.json"),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`ConfigError` instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (`{self.prog} --help` lists the options)")


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of subcommand ``name`` and its run function."""
    command = COMMANDS[name]
    function = name.replace("-", "_")
    module = importlib.import_module(f"a2video.commands.{function}")
    parser = ArgumentParser(prog=f"a2video {name}", description=command.help)
    getattr(module, f"configure_{function}")(parser)
    return parser, getattr(module, f"run_{function}")


def usage() -> str:
    width = max(map(len, [*LIGHTNING_COMMANDS, *COMMANDS]))
    lines = [f"  {name:<{width}}  {text}" for name, text in LIGHTNING_COMMANDS.items()]
    lines += [f"  {name:<{width}}  {command.help}" for name, command in COMMANDS.items()]
    return ("usage: a2video <command> [options]   (a2video <command> --help for its options)\n\ncommands:\n"
            + "\n".join(lines))


def _ckpt_path_spelling(arg: str) -> str:
    if arg == "--checkpoint":
        return "--ckpt_path"
    if arg.startswith("--checkpoint="):
        return "--ckpt_path=" + arg.split("=", 1)[1]
    return arg


def run(args: list[str]) -> None:
    """Run one command line (without the program name); raises what the command raises."""
    command, rest = args[0], args[1:]
    if command in LIGHTNING_COMMANDS:
        from a2video.engine.lightning_cli import run_lightning

        # --checkpoint, the spelling of every other command, is Lightning's --ckpt_path here
        # (-c stays Lightning's --config).
        run_lightning([command, *(_ckpt_path_spelling(arg) for arg in rest)])
        return
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r}; choose from {', '.join([*LIGHTNING_COMMANDS, *COMMANDS])}")
    parser, run_command = build_parser(command)
    namespace = parser.parse_args(rest)
    if not hasattr(namespace, "threads"):  # the command runs no network
        run_command(namespace)
        return
    from a2video.threads import compute_threads

    # The one place the argparse commands' compute threads are set (fit/validate/test: CpuThreads).
    with compute_threads(namespace.threads, workers=getattr(namespace, "workers", 0) or 0) as choice:
        namespace.thread_choice = choice
        run_command(namespace)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``a2video`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    try:
        run(args)
    except A2VideoError as error:
        print(f"a2video: error: {error.message()}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a file the command had to read or write: name it, no traceback
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        print(f"a2video: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("a2video: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_request:  # --help printed by argparse, or Lightning's own exit
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
