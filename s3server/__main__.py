import sys

from s3server.cli import main

sys.exit(main())
