"""``torchrun ... -m llmdoctor.cluster [options]``: the cluster runner's entry point."""

import sys

from .main import main

sys.exit(main())
