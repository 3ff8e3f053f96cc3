import sys

from shimgw.cli import main

sys.exit(main())
