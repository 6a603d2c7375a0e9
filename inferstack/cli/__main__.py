"""`python -m inferstack.cli`: the same as the `inferstack` command."""

import sys

from inferstack.cli import main

sys.exit(main())
