"""``python -m gpunet_hub.cli``: the ``gpunet-hub`` command."""

import sys

from . import main

sys.exit(main())
