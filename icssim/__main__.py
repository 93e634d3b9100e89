import sys

from icssim.cli import main

sys.exit(main())
