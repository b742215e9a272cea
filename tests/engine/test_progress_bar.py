"""Progress bars: live in a terminal, one line per 50 batches in a log file."""


def test_progress_bar_is_quiet_in_log_files_only():
    import io

    from pytorch_lightning.callbacks import TQDMProgressBar

    from a2video.engine.runtime import log_file_progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = log_file_progress_bar(None, [], io.StringIO())
    assert isinstance(bar, TQDMProgressBar) and bar.refresh_rate == 50
    assert log_file_progress_bar(None, [], Terminal()) is None
    assert log_file_progress_bar(False, [], io.StringIO()) is None
    assert log_file_progress_bar(True, [TQDMProgressBar(refresh_rate=7)], io.StringIO()) is None
