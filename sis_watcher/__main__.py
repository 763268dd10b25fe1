"""`python -m sis_watcher` is the `sis-watcher` command."""

import sys

from sis_watcher.cli import main

sys.exit(main())
