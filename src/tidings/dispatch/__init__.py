"""The dispatch pipeline: a plan in, one Delivery or one Skip per candidate out.

One module per stage, data flowing one way::

    plan.py         DispatchPlan: built once per request, immutable
    audience.py     candidates from the store (a bulletin's query, a campaign's recipients)
    eligibility.py  every per-user rule
    caps.py         the targeting-cap pass, and the cap claims against the ledger
    render.py       the message for one user: a Delivery (or a Skip)
    encoded.py      a chunk of store rows straight to ledger rows and JSON lines
    commit.py       the only writer: ledger, then sink
    workers.py      worker processes: start, exit, the tasks they take
    run.py          the loop over chunks, in this process or in worker processes

See docs/architecture.md.
"""

from .caps import may_take_a_slot as may_take_a_slot
from .caps import select_under_cap as select_under_cap
from .commit import Kept as Kept
from .commit import LineSink as LineSink
from .plan import Candidate as Candidate
from .plan import DispatchPlan as DispatchPlan
from .plan import HoldOut as HoldOut
from .plan import Recipient as Recipient
from .run import dispatch_bulletin as dispatch_bulletin
from .run import dispatch_recipients as dispatch_recipients
from .run import run_dispatch as run_dispatch

__all__ = [
    "Candidate",
    "DispatchPlan",
    "HoldOut",
    "Kept",
    "LineSink",
    "Recipient",
    "dispatch_bulletin",
    "dispatch_recipients",
    "may_take_a_slot",
    "run_dispatch",
    "select_under_cap",
]
