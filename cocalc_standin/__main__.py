"""``python -m cocalc_standin``: see :mod:`cocalc_standin.launch`."""
import sys

from .launch import main

if __name__ == "__main__":
    sys.exit(main())
