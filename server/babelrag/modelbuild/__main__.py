"""``python -m babelrag.modelbuild --profile tiny --out-dir DIR`` (same as the CLI subcommand)."""

import sys

from babelrag.modelbuild.build import main

sys.exit(main())
