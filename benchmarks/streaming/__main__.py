"""``python -m benchmarks.streaming``: runs :func:`benchmarks.streaming.run.main`."""

import sys

from benchmarks.streaming.run import main

sys.exit(main())
