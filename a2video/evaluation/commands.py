"""Command-line entry points of the evaluation package (wired into ``a2video`` by ``cli.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from a2video.evaluation.splits import MetricsFileError, average_splits, format_split_table
from a2video.evaluation.writers import atomic_write_text


def average_splits_main(argv: Sequence[str] | None = None) -> int:
    """``a2video average-splits``: prints per-split accuracies and their mean.

    Args:
        argv: Arguments after the subcommand name (``sys.argv[2:]`` style); None reads
            ``sys.argv[1:]``.

    Returns:
        0 on success, 1 if a metrics file is missing or malformed (one-line message on stderr).
        Usage errors exit through argparse with status 2.
    """
    parser = argparse.ArgumentParser(
        prog="a2video average-splits",
        description="Average the metrics.json of several splits (e.g. UCF-101 splits 1-3) into one table.",
    )
    parser.add_argument("metrics", nargs="+", help="metrics.json files, one per split")
    parser.add_argument("--names", nargs="+", help="split names for the table (default: from the paths)")
    parser.add_argument("--out", help="also write the per-split values and the mean to this JSON file")
    args = parser.parse_args(argv)
    try:
        result = average_splits(args.metrics, names=args.names)
    except (MetricsFileError, ValueError) as exc:
        print(f"a2video average-splits: error: {exc}", file=sys.stderr)
        return 1
    print(format_split_table(result))
    if args.out:
        try:
            atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            print(f"a2video average-splits: error: cannot write {args.out}: {exc}", file=sys.stderr)
            return 1
        print(f"written to {args.out}")
    return 0


def configure_analyze(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``a2video analyze RUN_TEST_DIR [MORE ...] [--out DIR]``."""
    parser.description = ("Analyse finished test runs from their saved files (no video is decoded): accuracy "
                          "against the number of views, per-class accuracy, confused pairs, calibration, the "
                          "ensemble of runs over the same videos or the mean of splits; writes report.html.")
    parser.add_argument("runs", nargs="+", metavar="RUN_TEST_DIR",
                        help="test folders of `a2video test` (metrics.json, view_logits.npz)")
    parser.add_argument("--out", help="output folder (default: the test folder for one run, "
                                      "<common parent>/analysis for several)")
    parser.add_argument("--names", nargs="+", help="run names for the tables (default: from the paths)")
    parser.add_argument("--video-root", help="folder of the videos, for thumbnails of the worst videos "
                                             "(default: data.video_root of the run's test_config.yaml)")
    parser.add_argument("--worst", type=int, default=8, help="misclassified videos shown as thumbnails per run")


def run_analyze(args: argparse.Namespace) -> None:
    """``a2video analyze``: writes the analysis files and report.html, prints a summary.

    Raises:
        AnalysisError: A test folder is missing, incomplete or inconsistent (names the file).
        ConfigError: ``--names`` does not match the runs, or ``--worst`` is negative.
    """
    from a2video.errors import ConfigError
    from a2video.evaluation.report import write_analysis

    if args.names is not None and len(args.names) != len(args.runs):
        raise ConfigError(f"--names gives {len(args.names)} names for {len(args.runs)} runs")
    if args.worst < 0:
        raise ConfigError(f"--worst must be >= 0, got {args.worst}")
    output = write_analysis(args.runs, out_dir=args.out, names=args.names, video_root=args.video_root,
                            worst=args.worst)
    print(format_analysis(output.analyses, output.comparison))
    print(f"report: {output.report}")


def format_analysis(analyses: list, comparison: dict | None) -> str:
    """A few lines per run: accuracy with one view and with all, calibration, failures."""
    width = min(40, max(len(a.run.name) for a in analyses))

    def short(name: str) -> str:
        return name if len(name) <= width else "..." + name[-(width - 3):]

    lines = [f"{'run':<{width}}{'videos':>7}{'1 view':>8}{'all views':>10}{'mean class':>11}{'ECE':>7}"]
    for analysis in analyses:
        run, curve = analysis.run, analysis.views_curve
        lines.append(f"{short(run.name):<{width}}{run.num_videos:>7}{curve[0]['video_top1']:>8.2f}"
                     f"{curve[-1]['video_top1']:>10.2f}{run.metrics['mean_class_accuracy']:>11.2f}"
                     f"{analysis.calibration['video']['ece']:>7.2f}")
    lines.append("video top-1 (%) with the centre view and with all views; ECE in % per video")
    if comparison is not None:
        if comparison["kind"] == "ensemble":
            e = comparison["ensemble"]
            lines.append(f"ensemble (mean of softmax): video top-1 {e['video_top1']:.2f}, top-5 {e['video_top5']:.2f}")
        elif comparison["kind"] == "splits":
            m = comparison["splits"]["mean"]
            lines.append(f"mean of {comparison['splits']['num_splits']} splits: video top-1 {m['video_top1']:.2f}, "
                         f"clip top-1 {m['clip_top1']:.2f}")
        else:
            lines.append(f"no ensemble: {comparison['reason']}")
    for analysis in analyses:
        worst = analysis.confused_pairs[:3]
        if worst:
            lines.append(f"{short(analysis.run.name)}: most confused: " + "; ".join(
                f"{p['true_name']} -> {p['predicted_name']} ({p['count']})" for p in worst))
    return "\n".join(lines)
