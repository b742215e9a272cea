"""Multi-view evaluation: clip/video accuracy, result files, split averaging.

Pure NumPy (+ matplotlib for the confusion picture): no Lightning, no video I/O. Accuracies are
percentages; failed videos always count as wrong. See ``metrics`` and ``writers`` for the exact
definitions and file formats.

After a test (imported on demand, not here, to keep this package light): ``analysis`` and
``compare`` (numbers from the saved files), ``plots`` and ``report`` (``report.html``,
``write_report``), ``attention_capture``, ``attention_render`` and ``explain`` (``a2video explain``).
"""

from a2video.evaluation.metrics import (
    AGGREGATES,
    EvaluationResult,
    aggregate_views,
    compute_metrics,
    mean_class_accuracy,
    softmax,
)
from a2video.evaluation.splits import (
    MetricsFileError,
    average_splits,
    format_split_table,
    load_metrics,
)
from a2video.evaluation.writers import (
    CONFUSION_FILE,
    METRICS_FILE,
    PREDICTIONS_COLUMNS,
    PREDICTIONS_FILE,
    VIEW_LOGITS_FILE,
    format_summary,
    write_evaluation,
)

__all__ = [
    "AGGREGATES",
    "CONFUSION_FILE",
    "METRICS_FILE",
    "PREDICTIONS_COLUMNS",
    "PREDICTIONS_FILE",
    "VIEW_LOGITS_FILE",
    "EvaluationResult",
    "MetricsFileError",
    "aggregate_views",
    "average_splits",
    "compute_metrics",
    "format_split_table",
    "format_summary",
    "load_metrics",
    "mean_class_accuracy",
    "softmax",
    "write_evaluation",
]
