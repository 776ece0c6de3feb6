"""The fuzz suite's budget and shared strategies.

Every test here runs in the normal test command with a bounded budget: the hypothesis profile
``latentstage`` takes ``LATENTSTAGE_FUZZ_EXAMPLES`` examples per target (default 200, about 20 s
for the whole suite on 2 cores; heavier targets take a fraction, see ``fuzz_settings``). With
``CI`` set the examples are derandomized, so CI is reproducible; elsewhere each run draws new
ones (raise the budget for a long hunt, e.g. ``LATENTSTAGE_FUZZ_EXAMPLES=5000``). A failing
example found once is kept as an explicit ``@example`` regression case next to its target.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_strategies.py

EXAMPLES = int(os.environ.get("LATENTSTAGE_FUZZ_EXAMPLES", "200"))
settings.register_profile(
    "latentstage", max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture], print_blob=True, database=None)
settings.load_profile("latentstage")
