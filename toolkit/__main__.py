"""`python -m toolkit` runs `tk`."""

import sys

from toolkit.cli.tk import main

sys.exit(main())
