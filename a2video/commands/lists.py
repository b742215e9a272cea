"""``a2video lists``: list files for a dataset from its official files and the videos on disk."""

from __future__ import annotations

import argparse

from a2video.data.lists import read_classes
from a2video.preparation.folder import build_folder_lists
from a2video.preparation.generic_csv import build_csv_lists
from a2video.preparation.hmdb51 import build_hmdb51_lists
from a2video.preparation.kinetics import build_kinetics_lists, kinetics400_classes
from a2video.preparation.scan import ListBuildReport
from a2video.preparation.ssv2 import build_ssv2_lists
from a2video.preparation.ucf101 import build_ucf101_lists


def configure_lists(parser: argparse.ArgumentParser) -> None:
    parser.description = "Write list files (`relative/path label` per line, 0-based) and classes.txt for a dataset."
    sub = parser.add_subparsers(dest="dataset", required=True)

    ucf = sub.add_parser("ucf101", help="UCF-101 splits 1-3 from the official ucfTrainTestlist/ folder")
    ucf.add_argument("--splits-dir", required=True, help="the official ucfTrainTestlist/ folder")
    ucf.add_argument("--video-root", help="folder with the videos (e.g. UCF-101/); checks they exist")
    ucf.add_argument("--out", required=True, help="output folder, e.g. data_lists/ucf101")

    kinetics = sub.add_parser("kinetics", help="Kinetics-400/600/700 from the official CSV files")
    kinetics.add_argument("--csv", nargs="+", required=True, help="official CSV files (train.csv validate.csv ...)")
    kinetics.add_argument("--video-root", required=True, help="folder with the clips, in class folders or flat")
    kinetics.add_argument("--out", required=True, help="output folder, e.g. data_lists/kinetics400")
    kinetics.add_argument(
        "--classes",
        help="'kinetics400' (torchvision's 400 names) or a classes.txt; default: sorted labels of the CSVs",
    )

    folder = sub.add_parser("folder", help="any folder-per-class video tree")
    folder.add_argument("--video-root", required=True, help="folder whose sub-folders are the classes")
    folder.add_argument("--out", required=True, help="output folder")
    folder.add_argument("--val-fraction", type=float, default=0.0, help="share of each class for val.txt")
    folder.add_argument("--test-fraction", type=float, default=0.0, help="share of each class for test.txt")
    folder.add_argument("--seed", type=int, default=0, help="seed of the random split")
    folder.add_argument("--group-regex", help="videos whose paths give the same match (first capture group) stay in "
                        "one part, e.g. '_g(\\d+)_' for UCF-style clips of one source; per class")  # fmt: skip

    hmdb = sub.add_parser("hmdb51", help="HMDB-51 splits 1-3 from the official <class>_test_split<k>.txt files")
    hmdb.add_argument("--splits-dir", required=True, help="the official testTrainMulti_7030_splits/ folder")
    hmdb.add_argument("--video-root", help="folder with the videos (e.g. hmdb51_org/); checks they exist")
    hmdb.add_argument("--out", required=True, help="output folder, e.g. data_lists/hmdb51")

    ssv2 = sub.add_parser("ssv2", help="Something-Something v2 from labels.json, train.json, validation.json")
    ssv2.add_argument("--annotations-dir", required=True, help="folder with labels.json, train.json, validation.json")
    ssv2.add_argument("--video-root", help="folder with the <id>.webm videos; checks they exist")
    ssv2.add_argument("--out", required=True, help="output folder, e.g. data_lists/ssv2")

    table = sub.add_parser("csv", help="generic CSV files of 'path,label' rows (label = class name)")
    table.add_argument("--csv", nargs="+", required=True, help="CSV files; train.csv gives train.txt, ...")
    table.add_argument("--video-root", help="folder the paths are relative to; checks they exist")
    table.add_argument("--out", required=True, help="output folder")
    table.add_argument("--classes", help="classes.txt fixing the label order (default: sorted class names)")


def _build_lists(args: argparse.Namespace) -> ListBuildReport:
    if args.dataset == "ucf101":
        return build_ucf101_lists(args.splits_dir, args.out, args.video_root)
    if args.dataset == "kinetics":
        classes = None
        if args.classes == "kinetics400":
            classes = kinetics400_classes()
        elif args.classes is not None:
            classes = read_classes(args.classes)
        return build_kinetics_lists(args.csv, args.video_root, args.out, classes)
    if args.dataset == "hmdb51":
        return build_hmdb51_lists(args.splits_dir, args.out, args.video_root)
    if args.dataset == "ssv2":
        return build_ssv2_lists(args.annotations_dir, args.out, args.video_root)
    if args.dataset == "csv":
        classes = read_classes(args.classes) if args.classes else None
        return build_csv_lists(args.csv, args.out, args.video_root, classes)
    return build_folder_lists(
        args.video_root, args.out, args.val_fraction, args.test_fraction, args.seed, args.group_regex
    )


def run_lists(args: argparse.Namespace) -> None:
    print(_build_lists(args).summary())
