"""``python -m coqui_meta.cli``: the ``coqui-meta`` command."""

import sys

from coqui_meta.cli import main

if __name__ == "__main__":
    sys.exit(main())
