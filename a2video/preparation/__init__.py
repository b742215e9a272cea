"""Offline dataset preparation: run once before training, never on the training path.

- ``ucf101``, ``kinetics``, ``hmdb51``, ``ssv2``, ``generic_csv``, ``folder`` (with ``scan``): turn a
  dataset's official files into list files of the videos found on disk.
- ``prepare`` (with ``transcode``, the worker side): re-encode a dataset for fast decoding.
- ``check``: scan videos for unreadable, empty, too-short and odd files.
- ``synthetic``: the motion-only synthetic datasets of the demo and the tests.

Run-time loading (list files, sampling, decoding, datasets) is :mod:`a2video.data`.
"""
