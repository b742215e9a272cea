"""The ``a2video`` subcommands other than ``fit`` / ``validate`` / ``test``: one module per command.

``<name>.py`` holds ``configure_<name>(parser)`` (the arguments) and ``run_<name>(args)`` (parse
what the user gave, call the library, print the summary). The work itself lives in the library
packages (``data``, ``preparation``, ``models``, ``inference``, ``evaluation``, ``demo``), which
never import from here. :mod:`a2video.cli` lists the commands and imports one only when it runs.
"""
