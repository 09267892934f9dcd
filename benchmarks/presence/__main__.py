"""``python -m benchmarks.presence``: runs :func:`benchmarks.presence.measure.main`."""

import sys

from benchmarks.presence.measure import main

sys.exit(main())
