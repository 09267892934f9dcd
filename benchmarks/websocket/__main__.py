"""``python -m benchmarks.websocket``: runs :func:`benchmarks.websocket.run.main`."""

import sys

from benchmarks.websocket.run import main

sys.exit(main())
