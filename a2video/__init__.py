"""a2video: video action recognition with double-attention networks (A²-Nets)."""

__version__ = "0.1.0"
