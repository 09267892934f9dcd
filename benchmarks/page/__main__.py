"""``python -m benchmarks.page``: runs :func:`benchmarks.page.run.main`."""

import sys

from benchmarks.page.run import main

sys.exit(main())
