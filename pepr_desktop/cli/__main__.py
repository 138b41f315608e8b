import sys

from pepr_desktop.cli import main

sys.exit(main())
