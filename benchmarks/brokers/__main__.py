"""``python -m benchmarks.brokers``: runs :func:`benchmarks.brokers.run.main`."""

import sys

from benchmarks.brokers.run import main

sys.exit(main())
