"""The demo's recipe (``recipe``: sizes and the configs it writes) and its timing (``timing``).

The command itself is :mod:`a2video.commands.demo`.
"""
