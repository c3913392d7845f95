"""``python -m orders_pipeline``: the same as the ``orders-pipeline`` console script."""

import sys

from orders_pipeline.console import main

sys.exit(main())
