"""``python -m benchmarks.fairness``: runs :func:`benchmarks.fairness.run.main`."""

import sys

from benchmarks.fairness.run import main

sys.exit(main())
