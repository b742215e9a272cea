"""Using a trained model without Lightning: ``predict``, ``export`` and ``features``.

The network, its preprocessing and class names come from :func:`a2video.models.trained.load_trained`;
videos are decoded, sampled and cropped by :mod:`a2video.data` (the test protocol's functions), and
views are combined by :mod:`a2video.evaluation.metrics`.
"""
