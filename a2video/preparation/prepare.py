"""``a2video prepare``: re-encode a dataset so that training decodes it fast.

Raw Kinetics clips are 720p-1080p with a key frame every few seconds, so every random clip
decodes up to a few hundred full-size frames. Preparing a dataset once re-encodes every video
with PyAV (libx264, no ffmpeg binary needed) to a small short side, a key frame every ``gop``
frames, no audio, the original frame rate and every frame in presentation order.

Safety, since a run over 240,000 videos takes hours and will be interrupted:

- Each video is written to a hidden temporary name beside its final one, decoded again and its
  frames counted, fsynced, and only then renamed. A final name therefore always holds a whole,
  checked video; a second run skips those and does the rest.
- A killed run leaves at most one temporary file per worker; the next run deletes them (a lock
  file keeps two runs off the same destination). Workers die with the main process.
- Unreadable or too-short inputs are left out and listed, with the reason, in
  ``DST/prepare_report.csv``; they never stop the run. A write error (a full disk) does stop it,
  with one line saying so; what was finished stays.
- ``DST/prepare.json`` records the settings; another run with other settings is refused
  rather than mixing two encodings in one folder.
- When every input has been handled, the list files for the prepared root are written into it.

This module runs a dataset (destination checks, lock, worker pool, report, lists, command line);
:mod:`a2video.preparation.transcode` does one video.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from a2video.data.lists import Sample, read_classes, read_list
from a2video.errors import A2VideoError, one_line
from a2video.files import atomic_write, is_temporary
from a2video.preparation.scan import ListBuildReport, find_videos, write_found_lists
from a2video.preparation.transcode import (
    PrepareResult,
    PrepareSettings,
    init_worker,
    output_names,
    prepare_job,
)

SETTINGS_FILE = "prepare.json"
REPORT_FILE = "prepare_report.csv"
LOCK_FILE = ".prepare.lock"
TREE_LIST = "all.txt"
REPORT_COLUMNS = ("path", "status", "reason", "frames")


class PrepareError(A2VideoError):
    """A prepare run that cannot start or has to stop (bad destination, full disk, ...)."""


@dataclass
class PrepareSummary:
    """Counts of one run, for the command line and the tests."""

    prepared: int = 0
    already_done: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    lists: ListBuildReport | None = None


def _run_jobs(jobs: Sequence[tuple], workers: int) -> Iterator[PrepareResult]:
    """Results in completion order; at most ``2 * workers`` jobs queued at a time."""
    if workers <= 1:
        for job in jobs:
            yield prepare_job(job)
        return
    pending = iter(jobs)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker) as pool:
        running = set()
        try:
            while True:
                for job in pending:
                    running.add(pool.submit(prepare_job, job))
                    if len(running) >= 2 * workers:
                        break
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BaseException:
            # Ctrl-C, a fatal result or a dead worker: stop everything now; SIGTERM makes each
            # worker delete its temporary file.
            for future in running:
                future.cancel()
            for child in multiprocessing.active_children():
                child.terminate()
            raise


def _process(
    todo: Sequence[tuple], workers: int, progress: bool, results: dict[str, PrepareResult], summary: PrepareSummary
) -> None:
    """Runs the jobs, recording every result; stops at the first write error."""
    try:
        with tqdm(total=len(todo), unit="video", desc="prepare", disable=not progress, smoothing=0.05) as bar:
            with contextlib.closing(_run_jobs(todo, workers)) as finished:
                for result in finished:
                    if result.status == "write_error":
                        full = result.errno in (errno.ENOSPC, errno.EDQUOT)
                        raise PrepareError(
                            f"{'the disk is full' if full else 'cannot write'}: {result.reason}. Nothing half-written "
                            f"is left under a final name; the {summary.prepared} videos finished in this run are kept; "
                            "run the same command again to continue"
                        )
                    results[result.path] = result
                    summary.prepared += result.status == "prepared"
                    bar.update()
    except BrokenProcessPool:
        raise PrepareError(
            "a worker process died (killed, or out of memory?); finished videos are kept, run again to continue"
        ) from None


def _lock(dst_root: Path) -> io.BufferedWriter:
    handle = open(dst_root / LOCK_FILE, "ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise PrepareError(f"another a2video prepare is writing to {dst_root}; wait for it or stop it first") from None
    return handle


def _remove_stale_temporaries(dst_root: Path) -> int:
    removed = 0
    for folder, _, files in os.walk(dst_root):
        for name in files:
            if is_temporary(name):  # left by a killed worker or writer
                (Path(folder) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _check_destination(src_root: Path, dst_root: Path, settings: PrepareSettings) -> None:
    """Creates ``dst_root`` with ``prepare.json``, or checks that it was made with ``settings``."""
    source, destination = src_root.resolve(), dst_root.resolve()
    if source == destination or source in destination.parents or destination in source.parents:
        raise PrepareError(f"source {src_root} and destination {dst_root} must not contain each other")
    recorded = dst_root / SETTINGS_FILE
    wanted = asdict(settings)
    if recorded.exists():
        try:
            previous = json.loads(recorded.read_text())["settings"]
        except (ValueError, KeyError, TypeError):
            raise PrepareError(f"{recorded} is not a prepare settings file; use another destination") from None
        if previous != wanted:
            raise PrepareError(f"{dst_root} holds videos prepared with {previous}, not {wanted}; use another destination")
        return
    if dst_root.exists() and any(dst_root.iterdir()):
        raise PrepareError(f"{dst_root} is not empty and has no {SETTINGS_FILE}; give an empty or new folder")
    text = json.dumps({"settings": wanted, "source": str(source)}, indent=2) + "\n"
    atomic_write(recorded, lambda f: f.write(text.encode()))


def _read_report(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row.get("path")]


def _write_report(path: Path, rows: Iterable[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: str(row["path"])))
    data = buffer.getvalue().encode()
    atomic_write(path, lambda f: f.write(data))


def _inputs(src_root: Path, lists: Sequence[str]) -> tuple[list[str], dict[str, list[Sample]]]:
    """Relative input paths (sorted, unique) and the list files' contents by list name."""
    if not lists:
        return find_videos(src_root), {}
    by_name: dict[str, list[Sample]] = {}
    for list_path in lists:
        name = Path(list_path).name
        if name in by_name:
            raise PrepareError(f"two list files are named {name}; their prepared copies would overwrite each other")
        by_name[name] = read_list(list_path)
    return sorted({path for samples in by_name.values() for path, _ in samples}), by_name


def _tree_lists(paths: Sequence[str]) -> tuple[list[str], dict[str, list[Sample]]] | None:
    """``all.txt`` labelled by top-level class folder, or None for a tree without class folders."""
    if not paths or any(len(PurePosixPath(path).parts) < 2 for path in paths):
        return None
    classes = sorted({PurePosixPath(path).parts[0] for path in paths})
    label_of = {name: label for label, name in enumerate(classes)}
    return classes, {TREE_LIST: [(path, label_of[PurePosixPath(path).parts[0]]) for path in paths]}


def prepare_dataset(
    src_root: str | os.PathLike,
    dst_root: str | os.PathLike,
    settings: PrepareSettings,
    *,
    lists: Sequence[str] = (),
    classes_file: str | None = None,
    workers: int = 1,
    min_frames: int = 1,
    progress: bool = True,
) -> PrepareSummary:
    """Prepares every video of ``lists`` (or of the whole tree) from ``src_root`` into ``dst_root``.

    Args:
        src_root: Folder of the raw videos.
        dst_root: Output folder (new, empty, or a previous run's with the same settings).
        settings: Encoding settings.
        lists: List files (paths relative to ``src_root``); each is written again into
            ``dst_root`` for the prepared videos. Empty: every video below ``src_root``, and
            ``all.txt`` + ``classes.txt`` by top-level class folder if every video has one.
        classes_file: ``classes.txt`` for ``lists``; default: the one beside the first list.
        workers: Processes (1 = this process).
        min_frames: Inputs with fewer frames are left out as too short.
        progress: Show a progress bar with an ETA on stderr.

    Returns:
        The counts of this run.

    Raises:
        PrepareError: On a bad destination, another run on it, or a write error (full disk).
        ListFileError: On a malformed list file.
    """
    src_root, dst_root = Path(src_root), Path(dst_root)
    started = time.perf_counter()
    if not src_root.is_dir():
        raise PrepareError(f"source root {src_root} does not exist or is not a folder")
    paths, list_samples = _inputs(src_root, lists)
    if not paths:
        raise PrepareError(f"no videos in {lists[0] if lists else src_root}: nothing to prepare")
    classes: list[str] | None = None
    if lists:
        classes_path = Path(classes_file) if classes_file else Path(lists[0]).parent / "classes.txt"
        if not classes_path.is_file():
            raise PrepareError(f"no classes file {classes_path} for the lists; pass --classes")
        classes = read_classes(classes_path)
    _check_destination(src_root, dst_root, settings)
    lock = _lock(dst_root)
    try:
        _remove_stale_temporaries(dst_root)
        summary = PrepareSummary()
        report_path = dst_root / REPORT_FILE
        # Earlier runs' failures stay in the report until this run retries them.
        names = output_names(paths)
        earlier = {
            row["path"]: row
            for row in _read_report(report_path)
            if names.get(row["path"]) and (row["status"] == "prepared") == (dst_root / names[row["path"]]).exists()
        }
        results: dict[str, PrepareResult] = {}
        owner = {target: relative for relative, target in names.items() if target}
        todo = []
        for relative in paths:
            target = names[relative]
            if target is None:
                results[relative] = PrepareResult(relative, "collision", "its prepared name is another input's name")
            elif (dst_root / target).exists():
                summary.already_done += 1
            else:
                todo.append((str(src_root), str(dst_root), relative, settings, min_frames, target))
        complete = False
        try:
            _process(todo, workers, progress, results, summary)
            complete = True
        finally:
            rows = {path: row for path, row in earlier.items() if path not in results}
            # Prepared files with a note (truncated, several streams) are listed too, with what was used.
            rows.update({path: asdict(result) for path, result in results.items()
                         if result.status != "prepared" or result.reason})  # fmt: skip
            for row in rows.values():
                if row["status"] != "prepared":
                    summary.left_out[row["status"]] = summary.left_out.get(row["status"], 0) + 1
            summary.seconds = time.perf_counter() - started
            try:
                _write_report(report_path, rows.values())
            except OSError as error:
                if complete:  # otherwise the error that stopped the run is the one to report
                    raise PrepareError(f"cannot write {report_path}: {one_line(error, with_type=True)}") from None
        if complete:
            summary.lists = _write_prepared_lists(dst_root, paths, list_samples, classes, owner)
        return summary
    finally:
        lock.close()


def _write_prepared_lists(
    dst_root: Path,
    paths: Sequence[str],
    list_samples: dict[str, list[Sample]],
    classes: list[str] | None,
    owner: dict[str, str],
) -> ListBuildReport | None:
    """The input lists (or ``all.txt``) for the prepared root; left-out videos go to ``missing_<list>``.

    ``owner`` maps an output to the input it was made from, so ``a.mkv`` is never listed as the
    ``a.mp4`` made from ``a.avi``.
    """
    if classes is None:
        tree = _tree_lists(paths)
        if tree is None:
            return None
        classes, list_samples = tree

    target_of = {relative: target for target, relative in owner.items()}

    def resolve(listed: str) -> str | None:
        target = target_of.get(listed)
        return target if target is not None and (dst_root / target).exists() else None

    report = write_found_lists(dst_root, classes, list_samples, resolve)
    report.missing_note = f"left out by prepare, each with its reason in {dst_root / REPORT_FILE}"
    return report


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def format_summary(summary: PrepareSummary, dst_root: Path, settings: PrepareSettings, workers: int) -> str:
    """The lines ``a2video prepare`` prints at the end."""
    left_out = sum(summary.left_out.values())
    kinds = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(summary.left_out.items()))
    lines = [
        f"prepared {summary.prepared} videos in {summary.seconds / 60:.1f} min with {workers} worker(s) "
        f"({summary.already_done} done by an earlier run)",
        f"  short side {settings.short_side}, H.264 CRF {settings.crf} ({settings.preset}), key frame every {settings.gop} frames",
    ]
    if left_out:
        lines.append(f"  {left_out} left out ({kinds}): see {dst_root / REPORT_FILE}")
    if summary.lists is not None:
        lines.append(summary.lists.summary())
    else:
        lines.append(f"  no class folders: build the lists with `a2video lists ... --video-root {dst_root}`")
    return "\n".join(lines)
