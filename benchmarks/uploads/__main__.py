"""``python -m benchmarks.uploads``: runs :func:`benchmarks.uploads.run.main`."""

import sys

from benchmarks.uploads.run import main

sys.exit(main())
