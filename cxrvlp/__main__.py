"""``python -m cxrvlp``: the ``cxrvlp`` console script."""

import sys

from cxrvlp.cli import main

sys.exit(main())
