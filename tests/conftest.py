"""Shared test settings: one hypothesis profile for every property test.

Deadlines are off: CI machines are shared and a slow example is not a failure.
``TIDINGS_HYPOTHESIS_PROFILE=thorough`` runs ten times more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("TIDINGS_HYPOTHESIS_PROFILE", "default"))
