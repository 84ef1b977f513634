"""``python -m train ...`` and ``torchrun --nproc_per_node=N -m train fit ...``."""

import sys

from train.cli import main

sys.exit(main())
