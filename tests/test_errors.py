"""a2video.errors.one_line: the one helper that turns an error into the line a command prints."""

from a2video.errors import A2VideoError, one_line


def test_one_line_collapses_cuts_and_names_the_type():
    error = RuntimeError("[enforce fail at inline_container.cc:672] .\n  unexpected pos 1234\tvs 99")
    assert one_line(error) == "[enforce fail at inline_container.cc:672] . unexpected pos 1234 vs 99"
    assert one_line(error, limit=16) == "[enforce fail at"
    assert one_line(error, with_type=True).startswith("RuntimeError: [enforce fail")
    assert one_line(ValueError(), with_type=True) == "ValueError"  # no message: the type alone
    assert one_line("two\nlines ") == "two lines"  # a message given as text
    assert A2VideoError("a\n b").message() == "a b"
