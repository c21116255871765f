"""`python -m inbox_worker` is `helpdesk worker`."""
import sys

from helpdesk.cli import main

sys.exit(main(["worker", *sys.argv[1:]]))
