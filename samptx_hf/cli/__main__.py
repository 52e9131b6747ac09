"""`python -m samptx_hf.cli` (and `accelerate launch -m samptx_hf.cli`) runs the `samptx` command."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
