"""``python -m a2video`` = the ``a2video`` command."""

import sys

from a2video.cli import main

sys.exit(main())
