"""A seeded, reproducible demo workspace: users, their events, and the whole demo job.

Two stories from the vendor guides share one workspace: a **streaming app**
(``App Launched``, ``Movie Watched`` with a genre and a language) and an
**e-commerce shop** (``Product Viewed``, ``Added To Cart``, ``Order Placed`` with
a category). Each user has a profile (name, email for most, push token for
many, an IANA time zone, language, ``customerType``, favourite genres and
categories) and a few dozen events over the last 60 days.

Everything about user ``i`` comes from a random generator seeded with
``(seed, i)``, so the data is the same on every machine, in any chunking, and a
benchmark can generate user 70,000 without generating the 69,999 before it::

    from tidings.demo_data import DemoConfig, iter_users, populate
    config = DemoConfig(users=10_000, seed=7)
    profile, events = next(iter_users(config))
    populate(store, config)                      # bulk-load any Store

:func:`run_demo` is the job behind ``tidings demo``: it builds the workspace in
SQLite, publishes the definitions of ``templates/demo/demo.json`` (bulletins and
External Trigger campaigns whose messages are the examples in ``templates/``),
raises the business events and a batch of External Trigger calls, simulates
engagement and conversions, and writes the deliveries (JSON Lines) and the
HTML report.
"""

from .job import DemoResult as DemoResult
from .job import load_definitions as load_definitions
from .job import run_demo as run_demo
from .population import DEMO_NOW as DEMO_NOW
from .population import GENERATOR_VERSION as GENERATOR_VERSION
from .population import DemoConfig as DemoConfig
from .population import Progress as Progress
from .population import generate_user as generate_user
from .population import identity_of as identity_of
from .population import iter_users as iter_users
from .population import populate as populate
from .population import populate_sqlite as populate_sqlite

__all__ = [
    "DEMO_NOW",
    "GENERATOR_VERSION",
    "DemoConfig",
    "DemoResult",
    "Progress",
    "generate_user",
    "identity_of",
    "iter_users",
    "load_definitions",
    "populate",
    "populate_sqlite",
    "run_demo",
]
