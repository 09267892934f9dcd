"""``python -m benchmarks.soak``: runs :func:`benchmarks.soak.run.main`."""

import sys

from benchmarks.soak.run import main

sys.exit(main())
