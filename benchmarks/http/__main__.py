"""``python -m benchmarks.http``: runs :func:`benchmarks.http.run.main`."""

import sys

from benchmarks.http.run import main

sys.exit(main())
