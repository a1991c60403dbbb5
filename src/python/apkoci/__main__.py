"""`python -m apkoci` runs the command line."""

import sys

from apkoci.cli import main

sys.exit(main())
