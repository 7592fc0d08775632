import sys

from fakes.erp.server import main

sys.exit(main())
