"""The vendor's request bodies, parsed and validated in one place into typed requests.

Bodies: the Bulletins API (raise a business event), External Trigger (recipients
by identity or email, one data object for every recipient or one per recipient; up
to 5 campaigns in one ``/2`` call), Create Campaign, Message via Identity. A body
that breaks a rule becomes a :class:`Refusal` carrying the vendor's documented
message (the workspace answers ``{"status": "fail", ...}``); a valid one becomes a
typed request the workspace turns into dispatch plans.
"""

from ._common import Refusal as Refusal
from ._common import body_problem as body_problem
from ._common import request_key as request_key
from .bulletins import MAX_PROPERTY_VALUE_BYTES as MAX_PROPERTY_VALUE_BYTES
from .bulletins import BusinessEventRequest as BusinessEventRequest
from .bulletins import parse_business_event as parse_business_event
from .campaigns import campaign_from_api as campaign_from_api
from .campaigns import identity_message as identity_message
from .triggers import MAX_CAMPAIGNS_PER_CALL as MAX_CAMPAIGNS_PER_CALL
from .triggers import RECIPIENT_KEYS as RECIPIENT_KEYS
from .triggers import Addressee as Addressee
from .triggers import CampaignCall as CampaignCall
from .triggers import TriggerRequest as TriggerRequest
from .triggers import campaign_id as campaign_id
from .triggers import check_trigger_request as check_trigger_request
from .triggers import count_recipients as count_recipients
from .triggers import parse_campaign_calls as parse_campaign_calls
from .triggers import parse_trigger as parse_trigger
from .triggers import resolve_recipients as resolve_recipients
from .uploads import MAX_UPLOAD_RECORDS as MAX_UPLOAD_RECORDS
from .uploads import upload_profile_or_event as upload_profile_or_event
from .uploads import upload_records as upload_records

__all__ = [
    "MAX_CAMPAIGNS_PER_CALL",
    "MAX_PROPERTY_VALUE_BYTES",
    "MAX_UPLOAD_RECORDS",
    "RECIPIENT_KEYS",
    "Addressee",
    "BusinessEventRequest",
    "CampaignCall",
    "Refusal",
    "TriggerRequest",
    "body_problem",
    "campaign_from_api",
    "campaign_id",
    "check_trigger_request",
    "count_recipients",
    "identity_message",
    "parse_business_event",
    "parse_campaign_calls",
    "parse_trigger",
    "request_key",
    "resolve_recipients",
    "upload_profile_or_event",
    "upload_records",
]
