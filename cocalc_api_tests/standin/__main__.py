"""``python -m cocalc_api_tests.standin``: see :mod:`cocalc_api_tests.standin.launch`."""
import sys

from .launch import main

if __name__ == "__main__":
    sys.exit(main())
