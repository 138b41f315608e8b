"""PyInstaller entry point of the `pepr` command."""

import sys

from pepr_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
