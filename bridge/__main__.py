"""`python -m bridge`: the same command as `bridge`."""

import sys

from bridge.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
