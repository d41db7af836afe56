"""Entry script for the PyInstaller bundle."""

import sys

from studio_analytics.__main__ import main

sys.exit(main())
