"""``python -m benchmarks.server_state``: runs :func:`benchmarks.server_state.run.main`."""

import sys

from benchmarks.server_state.run import main

sys.exit(main())
