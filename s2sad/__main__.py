"""`python -m s2sad`: the command line (`s2sad --help`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
