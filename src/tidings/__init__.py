"""tidings: turn a business or user event into the final, per-user messages of a campaign."""

from .campaigns import Bulletin as Bulletin
from .campaigns import ExternalTriggerCampaign as ExternalTriggerCampaign
from .channels import EmailMessage as EmailMessage
from .channels import EmailPayload as EmailPayload
from .channels import Message as Message
from .channels import MessageField as MessageField
from .channels import Payload as Payload
from .channels import PushMessage as PushMessage
from .channels import PushPayload as PushPayload
from .channels import WebhookMessage as WebhookMessage
from .channels import WebhookPayload as WebhookPayload
from .channels import message_from_dict as message_from_dict
from .errors import ArgumentError as ArgumentError
from .errors import ChannelError as ChannelError
from .errors import DataError as DataError
from .errors import DefinitionError as DefinitionError
from .errors import DefinitionProblem as DefinitionProblem
from .errors import EventError as EventError
from .errors import HeaderInjectionError as HeaderInjectionError
from .errors import InvalidWebhookBodyError as InvalidWebhookBodyError
from .errors import LimitExceededError as LimitExceededError
from .errors import MissingTriggerKeyError as MissingTriggerKeyError
from .errors import PayloadTooLargeError as PayloadTooLargeError
from .errors import ProfileError as ProfileError
from .errors import RecordError as RecordError
from .errors import RenderError as RenderError
from .errors import TemplateError as TemplateError
from .errors import TemplateSyntaxError as TemplateSyntaxError
from .errors import TidingsError as TidingsError
from .errors import TriggerDataError as TriggerDataError
from .errors import UndefinedValueError as UndefinedValueError
from .errors import UnknownFilterError as UnknownFilterError
from .errors import UnknownNameError as UnknownNameError
from .errors import UnsafeOutputError as UnsafeOutputError
from .lifecycle import DefinitionVersion as DefinitionVersion
from .lifecycle import Lifecycle as Lifecycle
from .models.definitions import BusinessEventDefinition as BusinessEventDefinition
from .models.definitions import ControlGroup as ControlGroup
from .models.definitions import CustomControlGroup as CustomControlGroup
from .models.definitions import Goal as Goal
from .models.definitions import Schedule as Schedule
from .models.definitions import WorkspaceSettings as WorkspaceSettings
from .models.dispatch_result import Dispatch as Dispatch
from .models.dispatch_result import RecordList as RecordList
from .models.filters import EventFilter as EventFilter
from .models.filters import MatchCondition as MatchCondition
from .models.filters import MatchRule as MatchRule
from .models.filters import ProfileMatch as ProfileMatch
from .models.filters import PropertyFilter as PropertyFilter
from .models.filters import Segment as Segment
from .models.preferences import DeliveryPreferences as DeliveryPreferences
from .models.preferences import DoNotDisturb as DoNotDisturb
from .models.preferences import FrequencyCap as FrequencyCap
from .models.records import Delivery as Delivery
from .models.records import Skip as Skip
from .models.records import Summary as Summary
from .models.users import UserEvent as UserEvent
from .models.users import UserProfile as UserProfile
from .sinks import JsonLinesSink as JsonLinesSink
from .storage import Ledger as Ledger
from .storage import MemoryLedger as MemoryLedger
from .storage import MemoryRegistry as MemoryRegistry
from .storage import MemoryStore as MemoryStore
from .storage import Registry as Registry
from .storage import SQLiteLedger as SQLiteLedger
from .storage import SQLiteRegistry as SQLiteRegistry
from .storage import SQLiteStore as SQLiteStore
from .storage import Store as Store
from .templating import Limits as Limits
from .templating import Template as Template
from .templating import compile_template as compile_template
from .workspace import Workspace as Workspace

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "Bulletin",
    "BusinessEventDefinition",
    "ChannelError",
    "ControlGroup",
    "CustomControlGroup",
    "DataError",
    "DefinitionError",
    "DefinitionProblem",
    "DefinitionVersion",
    "Delivery",
    "DeliveryPreferences",
    "Dispatch",
    "DoNotDisturb",
    "EmailMessage",
    "EmailPayload",
    "EventError",
    "EventFilter",
    "ExternalTriggerCampaign",
    "FrequencyCap",
    "Goal",
    "HeaderInjectionError",
    "InvalidWebhookBodyError",
    "JsonLinesSink",
    "Ledger",
    "Lifecycle",
    "LimitExceededError",
    "Limits",
    "MatchCondition",
    "MatchRule",
    "MemoryLedger",
    "MemoryRegistry",
    "MemoryStore",
    "Message",
    "MessageField",
    "MissingTriggerKeyError",
    "Payload",
    "PayloadTooLargeError",
    "ProfileError",
    "ProfileMatch",
    "PropertyFilter",
    "PushMessage",
    "PushPayload",
    "RecordError",
    "RecordList",
    "Registry",
    "RenderError",
    "SQLiteLedger",
    "SQLiteRegistry",
    "SQLiteStore",
    "Schedule",
    "Segment",
    "Skip",
    "Store",
    "Summary",
    "Template",
    "TemplateError",
    "TemplateSyntaxError",
    "TidingsError",
    "TriggerDataError",
    "UndefinedValueError",
    "UnknownFilterError",
    "UnknownNameError",
    "UnsafeOutputError",
    "UserEvent",
    "UserProfile",
    "WebhookMessage",
    "WebhookPayload",
    "Workspace",
    "WorkspaceSettings",
    "compile_template",
    "message_from_dict",
]
