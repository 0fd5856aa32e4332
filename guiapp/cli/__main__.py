"""python -m guiapp.cli: the same as guiapp-cli."""

import sys

from . import main

sys.exit(main())
