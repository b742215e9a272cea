"""``a2video analyze``: per-class, calibration, views-curve and ensemble analysis of test runs, ``report.html``."""

from __future__ import annotations

import argparse

from a2video.errors import ConfigError
from a2video.evaluation.report import format_analysis, write_analysis


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
    if args.names is not None and len(args.names) != len(args.runs):
        raise ConfigError(f"--names gives {len(args.names)} names for {len(args.runs)} runs")
    if args.worst < 0:
        raise ConfigError(f"--worst must be >= 0, got {args.worst}")
    output = write_analysis(args.runs, out_dir=args.out, names=args.names, video_root=args.video_root,
                            worst=args.worst)
    print(format_analysis(output.analyses, output.comparison))
    print(f"report: {output.report}")
