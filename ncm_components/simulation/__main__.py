"""``python -m ncm_components.simulation``: write simulated videos, datasets or releases, or print the statistics."""

import sys

from .synthetic import main

sys.exit(main())
