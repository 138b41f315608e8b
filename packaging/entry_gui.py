"""PyInstaller entry point of the `pepr-desktop` GUI."""

import sys

from pepr_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
