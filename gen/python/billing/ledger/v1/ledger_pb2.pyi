import datetime

from billing.type.v1 import types_pb2 as _types_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OveragePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERAGE_POLICY_UNSPECIFIED: _ClassVar[OveragePolicy]
    OVERAGE_POLICY_DENY: _ClassVar[OveragePolicy]
    OVERAGE_POLICY_ALLOW_OVERAGE: _ClassVar[OveragePolicy]

class GrantKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_KIND_UNSPECIFIED: _ClassVar[GrantKind]
    GRANT_KIND_PREPAID: _ClassVar[GrantKind]
    GRANT_KIND_PROMOTIONAL: _ClassVar[GrantKind]

class GrantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_STATE_UNSPECIFIED: _ClassVar[GrantState]
    GRANT_STATE_ACTIVE: _ClassVar[GrantState]
    GRANT_STATE_PENDING: _ClassVar[GrantState]
    GRANT_STATE_EXPIRED: _ClassVar[GrantState]
    GRANT_STATE_VOIDED: _ClassVar[GrantState]
    GRANT_STATE_CONSUMED: _ClassVar[GrantState]

class EntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_TYPE_UNSPECIFIED: _ClassVar[EntryType]
    ENTRY_TYPE_GRANT: _ClassVar[EntryType]
    ENTRY_TYPE_DEBIT: _ClassVar[EntryType]
    ENTRY_TYPE_REFUND: _ClassVar[EntryType]
    ENTRY_TYPE_EXPIRY: _ClassVar[EntryType]
    ENTRY_TYPE_VOID: _ClassVar[EntryType]
    ENTRY_TYPE_ADJUSTMENT: _ClassVar[EntryType]
    ENTRY_TYPE_HOLD: _ClassVar[EntryType]
    ENTRY_TYPE_CAPTURE: _ClassVar[EntryType]
    ENTRY_TYPE_RELEASE: _ClassVar[EntryType]
    ENTRY_TYPE_OVERAGE_SETTLEMENT: _ClassVar[EntryType]

class AuthorizeReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTHORIZE_REASON_UNSPECIFIED: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_ALLOWED: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_ALLOWED_WITH_OVERAGE: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_INSUFFICIENT_CREDITS: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_CREDITS_END_BEFORE_HOLD: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP: _ClassVar[AuthorizeReason]
    AUTHORIZE_REASON_MEMBER_BUDGET_EXCEEDED: _ClassVar[AuthorizeReason]

class BudgetPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUDGET_PERIOD_UNSPECIFIED: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_DAY: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_WEEK: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_MONTH: _ClassVar[BudgetPeriod]

class BudgetPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUDGET_POLICY_UNSPECIFIED: _ClassVar[BudgetPolicy]
    BUDGET_POLICY_DENY: _ClassVar[BudgetPolicy]
    BUDGET_POLICY_ALLOW: _ClassVar[BudgetPolicy]

class HoldState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLD_STATE_UNSPECIFIED: _ClassVar[HoldState]
    HOLD_STATE_ACTIVE: _ClassVar[HoldState]
    HOLD_STATE_CAPTURED: _ClassVar[HoldState]
    HOLD_STATE_RELEASED: _ClassVar[HoldState]
    HOLD_STATE_EXPIRED: _ClassVar[HoldState]

class WalletEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WALLET_EVENT_TYPE_UNSPECIFIED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_GRANT_CREATED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_CREDITS_EXPIRED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_ALERT_FIRED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_ALERT_RECOVERED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_TOP_UP_CREATED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_TOP_UP_COMPLETED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_TOP_UP_FAILED: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_BURN_SPIKE: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_SLOWDOWN: _ClassVar[WalletEventType]
    WALLET_EVENT_TYPE_DEPLETION_EXPECTED: _ClassVar[WalletEventType]

class TopUpPayment(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOP_UP_PAYMENT_UNSPECIFIED: _ClassVar[TopUpPayment]
    TOP_UP_PAYMENT_IMMEDIATE: _ClassVar[TopUpPayment]
    TOP_UP_PAYMENT_ON_CONFIRMATION: _ClassVar[TopUpPayment]

class TopUpState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOP_UP_STATE_UNSPECIFIED: _ClassVar[TopUpState]
    TOP_UP_STATE_PENDING: _ClassVar[TopUpState]
    TOP_UP_STATE_COMPLETED: _ClassVar[TopUpState]
    TOP_UP_STATE_FAILED: _ClassVar[TopUpState]

class WebhookDeliveryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEBHOOK_DELIVERY_STATE_UNSPECIFIED: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_PENDING: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_DELIVERED: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_FAILED: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_CANCELLED: _ClassVar[WebhookDeliveryState]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_ABSOLUTE: _ClassVar[AlertKind]
    ALERT_KIND_PERCENT: _ClassVar[AlertKind]
    ALERT_KIND_DEPLETED: _ClassVar[AlertKind]

class AllotmentCadence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALLOTMENT_CADENCE_UNSPECIFIED: _ClassVar[AllotmentCadence]
    ALLOTMENT_CADENCE_WEEKLY: _ClassVar[AllotmentCadence]
    ALLOTMENT_CADENCE_MONTHLY: _ClassVar[AllotmentCadence]
    ALLOTMENT_CADENCE_QUARTERLY: _ClassVar[AllotmentCadence]
    ALLOTMENT_CADENCE_YEARLY: _ClassVar[AllotmentCadence]

class AllotmentExpiry(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALLOTMENT_EXPIRY_UNSPECIFIED: _ClassVar[AllotmentExpiry]
    ALLOTMENT_EXPIRY_END_OF_PERIOD: _ClassVar[AllotmentExpiry]
    ALLOTMENT_EXPIRY_AFTER_DURATION: _ClassVar[AllotmentExpiry]
    ALLOTMENT_EXPIRY_NEVER: _ClassVar[AllotmentExpiry]

class ReportBucket(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_BUCKET_UNSPECIFIED: _ClassVar[ReportBucket]
    REPORT_BUCKET_DAY: _ClassVar[ReportBucket]
    REPORT_BUCKET_WEEK: _ClassVar[ReportBucket]
    REPORT_BUCKET_MONTH: _ClassVar[ReportBucket]
OVERAGE_POLICY_UNSPECIFIED: OveragePolicy
OVERAGE_POLICY_DENY: OveragePolicy
OVERAGE_POLICY_ALLOW_OVERAGE: OveragePolicy
GRANT_KIND_UNSPECIFIED: GrantKind
GRANT_KIND_PREPAID: GrantKind
GRANT_KIND_PROMOTIONAL: GrantKind
GRANT_STATE_UNSPECIFIED: GrantState
GRANT_STATE_ACTIVE: GrantState
GRANT_STATE_PENDING: GrantState
GRANT_STATE_EXPIRED: GrantState
GRANT_STATE_VOIDED: GrantState
GRANT_STATE_CONSUMED: GrantState
ENTRY_TYPE_UNSPECIFIED: EntryType
ENTRY_TYPE_GRANT: EntryType
ENTRY_TYPE_DEBIT: EntryType
ENTRY_TYPE_REFUND: EntryType
ENTRY_TYPE_EXPIRY: EntryType
ENTRY_TYPE_VOID: EntryType
ENTRY_TYPE_ADJUSTMENT: EntryType
ENTRY_TYPE_HOLD: EntryType
ENTRY_TYPE_CAPTURE: EntryType
ENTRY_TYPE_RELEASE: EntryType
ENTRY_TYPE_OVERAGE_SETTLEMENT: EntryType
AUTHORIZE_REASON_UNSPECIFIED: AuthorizeReason
AUTHORIZE_REASON_ALLOWED: AuthorizeReason
AUTHORIZE_REASON_ALLOWED_WITH_OVERAGE: AuthorizeReason
AUTHORIZE_REASON_INSUFFICIENT_CREDITS: AuthorizeReason
AUTHORIZE_REASON_CREDITS_END_BEFORE_HOLD: AuthorizeReason
AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP: AuthorizeReason
AUTHORIZE_REASON_MEMBER_BUDGET_EXCEEDED: AuthorizeReason
BUDGET_PERIOD_UNSPECIFIED: BudgetPeriod
BUDGET_PERIOD_DAY: BudgetPeriod
BUDGET_PERIOD_WEEK: BudgetPeriod
BUDGET_PERIOD_MONTH: BudgetPeriod
BUDGET_POLICY_UNSPECIFIED: BudgetPolicy
BUDGET_POLICY_DENY: BudgetPolicy
BUDGET_POLICY_ALLOW: BudgetPolicy
HOLD_STATE_UNSPECIFIED: HoldState
HOLD_STATE_ACTIVE: HoldState
HOLD_STATE_CAPTURED: HoldState
HOLD_STATE_RELEASED: HoldState
HOLD_STATE_EXPIRED: HoldState
WALLET_EVENT_TYPE_UNSPECIFIED: WalletEventType
WALLET_EVENT_TYPE_GRANT_CREATED: WalletEventType
WALLET_EVENT_TYPE_CREDITS_EXPIRED: WalletEventType
WALLET_EVENT_TYPE_ALERT_FIRED: WalletEventType
WALLET_EVENT_TYPE_ALERT_RECOVERED: WalletEventType
WALLET_EVENT_TYPE_TOP_UP_CREATED: WalletEventType
WALLET_EVENT_TYPE_TOP_UP_COMPLETED: WalletEventType
WALLET_EVENT_TYPE_TOP_UP_FAILED: WalletEventType
WALLET_EVENT_TYPE_BURN_SPIKE: WalletEventType
WALLET_EVENT_TYPE_SLOWDOWN: WalletEventType
WALLET_EVENT_TYPE_DEPLETION_EXPECTED: WalletEventType
TOP_UP_PAYMENT_UNSPECIFIED: TopUpPayment
TOP_UP_PAYMENT_IMMEDIATE: TopUpPayment
TOP_UP_PAYMENT_ON_CONFIRMATION: TopUpPayment
TOP_UP_STATE_UNSPECIFIED: TopUpState
TOP_UP_STATE_PENDING: TopUpState
TOP_UP_STATE_COMPLETED: TopUpState
TOP_UP_STATE_FAILED: TopUpState
WEBHOOK_DELIVERY_STATE_UNSPECIFIED: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_PENDING: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_DELIVERED: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_FAILED: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_CANCELLED: WebhookDeliveryState
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_ABSOLUTE: AlertKind
ALERT_KIND_PERCENT: AlertKind
ALERT_KIND_DEPLETED: AlertKind
ALLOTMENT_CADENCE_UNSPECIFIED: AllotmentCadence
ALLOTMENT_CADENCE_WEEKLY: AllotmentCadence
ALLOTMENT_CADENCE_MONTHLY: AllotmentCadence
ALLOTMENT_CADENCE_QUARTERLY: AllotmentCadence
ALLOTMENT_CADENCE_YEARLY: AllotmentCadence
ALLOTMENT_EXPIRY_UNSPECIFIED: AllotmentExpiry
ALLOTMENT_EXPIRY_END_OF_PERIOD: AllotmentExpiry
ALLOTMENT_EXPIRY_AFTER_DURATION: AllotmentExpiry
ALLOTMENT_EXPIRY_NEVER: AllotmentExpiry
REPORT_BUCKET_UNSPECIFIED: ReportBucket
REPORT_BUCKET_DAY: ReportBucket
REPORT_BUCKET_WEEK: ReportBucket
REPORT_BUCKET_MONTH: ReportBucket

class Wallet(_message.Message):
    __slots__ = ("wallet_id", "customer_id", "unit", "overage_policy", "late_event_grace_period", "metadata", "create_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_POLICY_FIELD_NUMBER: _ClassVar[int]
    LATE_EVENT_GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    customer_id: str
    unit: str
    overage_policy: OveragePolicy
    late_event_grace_period: _duration_pb2.Duration
    metadata: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, wallet_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., unit: _Optional[str] = ..., overage_policy: _Optional[_Union[OveragePolicy, str]] = ..., late_event_grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CostBasis(_message.Message):
    __slots__ = ("unit_price", "currency")
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    unit_price: str
    currency: str
    def __init__(self, unit_price: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "wallet_id", "kind", "amount", "remaining_amount", "priority", "effective_time", "expire_time", "cost_basis", "external_reference", "metadata", "state", "create_time", "void_time", "expired_amount", "voided_amount", "features")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VOID_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    VOIDED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    wallet_id: str
    kind: GrantKind
    amount: str
    remaining_amount: str
    priority: int
    effective_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    cost_basis: CostBasis
    external_reference: str
    metadata: _containers.ScalarMap[str, str]
    state: GrantState
    create_time: _timestamp_pb2.Timestamp
    void_time: _timestamp_pb2.Timestamp
    expired_amount: str
    voided_amount: str
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, grant_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., kind: _Optional[_Union[GrantKind, str]] = ..., amount: _Optional[str] = ..., remaining_amount: _Optional[str] = ..., priority: _Optional[int] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost_basis: _Optional[_Union[CostBasis, _Mapping]] = ..., external_reference: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[GrantState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., void_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expired_amount: _Optional[str] = ..., voided_amount: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class Allocation(_message.Message):
    __slots__ = ("grant_id", "amount", "overage")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    amount: str
    overage: bool
    def __init__(self, grant_id: _Optional[str] = ..., amount: _Optional[str] = ..., overage: _Optional[bool] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("entry_id", "wallet_id", "type", "amount", "occurred_time", "book_time", "description", "feature", "source_event_id", "request_id", "allocations", "available_after", "overage_after", "related_id", "actor", "member_id", "over_budget")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    BOOK_TIME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AFTER_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_AFTER_FIELD_NUMBER: _ClassVar[int]
    RELATED_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    OVER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    wallet_id: str
    type: EntryType
    amount: str
    occurred_time: _timestamp_pb2.Timestamp
    book_time: _timestamp_pb2.Timestamp
    description: str
    feature: str
    source_event_id: str
    request_id: str
    allocations: _containers.RepeatedCompositeFieldContainer[Allocation]
    available_after: str
    overage_after: str
    related_id: str
    actor: str
    member_id: str
    over_budget: str
    def __init__(self, entry_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., type: _Optional[_Union[EntryType, str]] = ..., amount: _Optional[str] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., book_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ..., feature: _Optional[str] = ..., source_event_id: _Optional[str] = ..., request_id: _Optional[str] = ..., allocations: _Optional[_Iterable[_Union[Allocation, _Mapping]]] = ..., available_after: _Optional[str] = ..., overage_after: _Optional[str] = ..., related_id: _Optional[str] = ..., actor: _Optional[str] = ..., member_id: _Optional[str] = ..., over_budget: _Optional[str] = ...) -> None: ...

class GrantBalance(_message.Message):
    __slots__ = ("grant_id", "kind", "priority", "remaining_amount", "state", "effective_time", "expire_time", "features")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REMAINING_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    kind: GrantKind
    priority: int
    remaining_amount: str
    state: GrantState
    effective_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, grant_id: _Optional[str] = ..., kind: _Optional[_Union[GrantKind, str]] = ..., priority: _Optional[int] = ..., remaining_amount: _Optional[str] = ..., state: _Optional[_Union[GrantState, str]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class FeatureBalance(_message.Message):
    __slots__ = ("feature", "available", "scoped_available")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    SCOPED_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    feature: str
    available: str
    scoped_available: str
    def __init__(self, feature: _Optional[str] = ..., available: _Optional[str] = ..., scoped_available: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("wallet_id", "as_of_time", "unit", "available", "held", "overage", "net", "pending_expiry", "pending_grants", "prepaid_available", "promotional_available", "grants", "features", "unscoped_available")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    PENDING_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    PENDING_GRANTS_FIELD_NUMBER: _ClassVar[int]
    PREPAID_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONAL_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    UNSCOPED_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    as_of_time: _timestamp_pb2.Timestamp
    unit: str
    available: str
    held: str
    overage: str
    net: str
    pending_expiry: str
    pending_grants: str
    prepaid_available: str
    promotional_available: str
    grants: _containers.RepeatedCompositeFieldContainer[GrantBalance]
    features: _containers.RepeatedCompositeFieldContainer[FeatureBalance]
    unscoped_available: str
    def __init__(self, wallet_id: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit: _Optional[str] = ..., available: _Optional[str] = ..., held: _Optional[str] = ..., overage: _Optional[str] = ..., net: _Optional[str] = ..., pending_expiry: _Optional[str] = ..., pending_grants: _Optional[str] = ..., prepaid_available: _Optional[str] = ..., promotional_available: _Optional[str] = ..., grants: _Optional[_Iterable[_Union[GrantBalance, _Mapping]]] = ..., features: _Optional[_Iterable[_Union[FeatureBalance, _Mapping]]] = ..., unscoped_available: _Optional[str] = ...) -> None: ...

class Hold(_message.Message):
    __slots__ = ("hold_id", "wallet_id", "amount", "state", "create_time", "expire_time", "end_time", "captured_amount", "feature", "description", "allocations", "member_id")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    wallet_id: str
    amount: str
    state: HoldState
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    captured_amount: str
    feature: str
    description: str
    allocations: _containers.RepeatedCompositeFieldContainer[Allocation]
    member_id: str
    def __init__(self, hold_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., amount: _Optional[str] = ..., state: _Optional[_Union[HoldState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., captured_amount: _Optional[str] = ..., feature: _Optional[str] = ..., description: _Optional[str] = ..., allocations: _Optional[_Iterable[_Union[Allocation, _Mapping]]] = ..., member_id: _Optional[str] = ...) -> None: ...

class WalletEvent(_message.Message):
    __slots__ = ("cursor", "event_id", "wallet_id", "type", "occurred_time", "data_json")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    event_id: str
    wallet_id: str
    type: WalletEventType
    occurred_time: _timestamp_pb2.Timestamp
    data_json: str
    def __init__(self, cursor: _Optional[int] = ..., event_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., type: _Optional[_Union[WalletEventType, str]] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ...) -> None: ...

class TopUpRule(_message.Message):
    __slots__ = ("wallet_id", "threshold", "amount", "target_balance", "kind", "priority", "expire_after", "unit_price", "currency", "daily_cap", "monthly_cap", "payment", "paused", "expire_time", "schedule_id")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TARGET_BALANCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAP_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_CAP_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    threshold: str
    amount: str
    target_balance: str
    kind: GrantKind
    priority: int
    expire_after: _duration_pb2.Duration
    unit_price: str
    currency: str
    daily_cap: str
    monthly_cap: str
    payment: TopUpPayment
    paused: bool
    expire_time: _timestamp_pb2.Timestamp
    schedule_id: str
    def __init__(self, wallet_id: _Optional[str] = ..., threshold: _Optional[str] = ..., amount: _Optional[str] = ..., target_balance: _Optional[str] = ..., kind: _Optional[_Union[GrantKind, str]] = ..., priority: _Optional[int] = ..., expire_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ..., daily_cap: _Optional[str] = ..., monthly_cap: _Optional[str] = ..., payment: _Optional[_Union[TopUpPayment, str]] = ..., paused: _Optional[bool] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schedule_id: _Optional[str] = ...) -> None: ...

class TopUp(_message.Message):
    __slots__ = ("top_up_id", "wallet_id", "amount", "unit_price", "currency", "state", "create_time", "end_time", "grant_id", "failure_reason")
    TOP_UP_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    top_up_id: str
    wallet_id: str
    amount: str
    unit_price: str
    currency: str
    state: TopUpState
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    grant_id: str
    failure_reason: str
    def __init__(self, top_up_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., amount: _Optional[str] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ..., state: _Optional[_Union[TopUpState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grant_id: _Optional[str] = ..., failure_reason: _Optional[str] = ...) -> None: ...

class AllotmentSchedule(_message.Message):
    __slots__ = ("schedule_id", "wallet_id", "amount", "kind", "priority", "cadence", "anchor_time", "expiry", "expire_after", "rollover_cap", "end_time", "periods_granted", "unit_price", "currency", "description")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CADENCE_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ROLLOVER_CAP_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIODS_GRANTED_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    wallet_id: str
    amount: str
    kind: GrantKind
    priority: int
    cadence: AllotmentCadence
    anchor_time: _timestamp_pb2.Timestamp
    expiry: AllotmentExpiry
    expire_after: _duration_pb2.Duration
    rollover_cap: str
    end_time: _timestamp_pb2.Timestamp
    periods_granted: int
    unit_price: str
    currency: str
    description: str
    def __init__(self, schedule_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., amount: _Optional[str] = ..., kind: _Optional[_Union[GrantKind, str]] = ..., priority: _Optional[int] = ..., cadence: _Optional[_Union[AllotmentCadence, str]] = ..., anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expiry: _Optional[_Union[AllotmentExpiry, str]] = ..., expire_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., rollover_cap: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., periods_granted: _Optional[int] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class AlertRule(_message.Message):
    __slots__ = ("rule_id", "wallet_id", "name", "kind", "threshold", "min_interval", "armed", "last_fire_time", "member_id")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ARMED_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    wallet_id: str
    name: str
    kind: AlertKind
    threshold: str
    min_interval: _duration_pb2.Duration
    armed: bool
    last_fire_time: _timestamp_pb2.Timestamp
    member_id: str
    def __init__(self, rule_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., threshold: _Optional[str] = ..., min_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., armed: _Optional[bool] = ..., last_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., member_id: _Optional[str] = ...) -> None: ...

class WebhookEndpoint(_message.Message):
    __slots__ = ("endpoint_id", "wallet_id", "url", "types", "description", "create_time", "delete_time")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    wallet_id: str
    url: str
    types: _containers.RepeatedScalarFieldContainer[WalletEventType]
    description: str
    create_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    def __init__(self, endpoint_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., url: _Optional[str] = ..., types: _Optional[_Iterable[_Union[WalletEventType, str]]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WebhookAttempt(_message.Message):
    __slots__ = ("number", "attempt_time", "status_code", "error")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    number: int
    attempt_time: _timestamp_pb2.Timestamp
    status_code: int
    error: str
    def __init__(self, number: _Optional[int] = ..., attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("delivery_id", "endpoint_id", "event_id", "cursor", "event_type", "wallet_id", "state", "attempts", "last_status_code", "last_error", "next_attempt_time", "create_time", "end_time", "attempt_log")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_LOG_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    endpoint_id: str
    event_id: str
    cursor: int
    event_type: WalletEventType
    wallet_id: str
    state: WebhookDeliveryState
    attempts: int
    last_status_code: int
    last_error: str
    next_attempt_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    attempt_log: _containers.RepeatedCompositeFieldContainer[WebhookAttempt]
    def __init__(self, delivery_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., event_id: _Optional[str] = ..., cursor: _Optional[int] = ..., event_type: _Optional[_Union[WalletEventType, str]] = ..., wallet_id: _Optional[str] = ..., state: _Optional[_Union[WebhookDeliveryState, str]] = ..., attempts: _Optional[int] = ..., last_status_code: _Optional[int] = ..., last_error: _Optional[str] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt_log: _Optional[_Iterable[_Union[WebhookAttempt, _Mapping]]] = ...) -> None: ...

class VerifyDifference(_message.Message):
    __slots__ = ("subject", "stored", "recomputed")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTED_FIELD_NUMBER: _ClassVar[int]
    subject: str
    stored: str
    recomputed: str
    def __init__(self, subject: _Optional[str] = ..., stored: _Optional[str] = ..., recomputed: _Optional[str] = ...) -> None: ...

class CreateWalletRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "unit", "overage_policy", "late_event_grace_period", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_POLICY_FIELD_NUMBER: _ClassVar[int]
    LATE_EVENT_GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    unit: str
    overage_policy: OveragePolicy
    late_event_grace_period: _duration_pb2.Duration
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., unit: _Optional[str] = ..., overage_policy: _Optional[_Union[OveragePolicy, str]] = ..., late_event_grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateWalletResponse(_message.Message):
    __slots__ = ("wallet",)
    WALLET_FIELD_NUMBER: _ClassVar[int]
    wallet: Wallet
    def __init__(self, wallet: _Optional[_Union[Wallet, _Mapping]] = ...) -> None: ...

class GetWalletRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class GetWalletResponse(_message.Message):
    __slots__ = ("wallet",)
    WALLET_FIELD_NUMBER: _ClassVar[int]
    wallet: Wallet
    def __init__(self, wallet: _Optional[_Union[Wallet, _Mapping]] = ...) -> None: ...

class ListWalletsRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWalletsResponse(_message.Message):
    __slots__ = ("wallets", "next_page_token")
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallets: _containers.RepeatedCompositeFieldContainer[Wallet]
    next_page_token: str
    def __init__(self, wallets: _Optional[_Iterable[_Union[Wallet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateGrantRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "kind", "amount", "priority", "effective_time", "expire_time", "cost_basis", "external_reference", "metadata", "description", "features")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    kind: GrantKind
    amount: str
    priority: int
    effective_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    cost_basis: CostBasis
    external_reference: str
    metadata: _containers.ScalarMap[str, str]
    description: str
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., kind: _Optional[_Union[GrantKind, str]] = ..., amount: _Optional[str] = ..., priority: _Optional[int] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost_basis: _Optional[_Union[CostBasis, _Mapping]] = ..., external_reference: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGrantResponse(_message.Message):
    __slots__ = ("grant", "entries")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class GetGrantRequest(_message.Message):
    __slots__ = ("grant_id",)
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    def __init__(self, grant_id: _Optional[str] = ...) -> None: ...

class GetGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("wallet_id", "state", "page_size", "page_token")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    state: GrantState
    page_size: int
    page_token: str
    def __init__(self, wallet_id: _Optional[str] = ..., state: _Optional[_Union[GrantState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VoidGrantRequest(_message.Message):
    __slots__ = ("request_id", "grant_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    grant_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class VoidGrantResponse(_message.Message):
    __slots__ = ("grant", "entry")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    entry: Entry
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class DebitRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "amount", "occurred_time", "feature", "description", "source_event_id", "metadata", "customer_id", "member_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    amount: str
    occurred_time: _timestamp_pb2.Timestamp
    feature: str
    description: str
    source_event_id: str
    metadata: _containers.ScalarMap[str, str]
    customer_id: str
    member_id: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., amount: _Optional[str] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feature: _Optional[str] = ..., description: _Optional[str] = ..., source_event_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., customer_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class DebitResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class DebitBatchRequest(_message.Message):
    __slots__ = ("debits",)
    DEBITS_FIELD_NUMBER: _ClassVar[int]
    debits: _containers.RepeatedCompositeFieldContainer[DebitRequest]
    def __init__(self, debits: _Optional[_Iterable[_Union[DebitRequest, _Mapping]]] = ...) -> None: ...

class DebitResult(_message.Message):
    __slots__ = ("entry", "error")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    error: _types_pb2.ItemError
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ..., error: _Optional[_Union[_types_pb2.ItemError, _Mapping]] = ...) -> None: ...

class DebitBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DebitResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DebitResult, _Mapping]]] = ...) -> None: ...

class RefundDebitRequest(_message.Message):
    __slots__ = ("request_id", "entry_id", "amount", "description")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    entry_id: str
    amount: str
    description: str
    def __init__(self, request_id: _Optional[str] = ..., entry_id: _Optional[str] = ..., amount: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RefundDebitResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("wallet_id", "as_of_time")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, wallet_id: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: Balance
    def __init__(self, balance: _Optional[_Union[Balance, _Mapping]] = ...) -> None: ...

class ListEntriesRequest(_message.Message):
    __slots__ = ("wallet_id", "types", "book_time_range", "page_size", "page_token", "member_id")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    BOOK_TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    types: _containers.RepeatedScalarFieldContainer[EntryType]
    book_time_range: _types_pb2.TimeRange
    page_size: int
    page_token: str
    member_id: str
    def __init__(self, wallet_id: _Optional[str] = ..., types: _Optional[_Iterable[_Union[EntryType, str]]] = ..., book_time_range: _Optional[_Union[_types_pb2.TimeRange, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class ListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Consumption(_message.Message):
    __slots__ = ("prepaid", "promotional", "overage", "total")
    PREPAID_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONAL_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    prepaid: str
    promotional: str
    overage: str
    total: str
    def __init__(self, prepaid: _Optional[str] = ..., promotional: _Optional[str] = ..., overage: _Optional[str] = ..., total: _Optional[str] = ...) -> None: ...

class FeatureConsumption(_message.Message):
    __slots__ = ("feature", "consumption")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    CONSUMPTION_FIELD_NUMBER: _ClassVar[int]
    feature: str
    consumption: Consumption
    def __init__(self, feature: _Optional[str] = ..., consumption: _Optional[_Union[Consumption, _Mapping]] = ...) -> None: ...

class ConsumptionBucket(_message.Message):
    __slots__ = ("start_time", "end_time", "consumption", "features")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CONSUMPTION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    consumption: Consumption
    features: _containers.RepeatedCompositeFieldContainer[FeatureConsumption]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consumption: _Optional[_Union[Consumption, _Mapping]] = ..., features: _Optional[_Iterable[_Union[FeatureConsumption, _Mapping]]] = ...) -> None: ...

class WalletConsumption(_message.Message):
    __slots__ = ("wallet_id", "customer_id", "unit", "buckets", "total", "features", "burn_rate_per_day", "burn_rate_per_week")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    BURN_RATE_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    BURN_RATE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    customer_id: str
    unit: str
    buckets: _containers.RepeatedCompositeFieldContainer[ConsumptionBucket]
    total: Consumption
    features: _containers.RepeatedCompositeFieldContainer[FeatureConsumption]
    burn_rate_per_day: str
    burn_rate_per_week: str
    def __init__(self, wallet_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., unit: _Optional[str] = ..., buckets: _Optional[_Iterable[_Union[ConsumptionBucket, _Mapping]]] = ..., total: _Optional[_Union[Consumption, _Mapping]] = ..., features: _Optional[_Iterable[_Union[FeatureConsumption, _Mapping]]] = ..., burn_rate_per_day: _Optional[str] = ..., burn_rate_per_week: _Optional[str] = ...) -> None: ...

class GetConsumptionReportRequest(_message.Message):
    __slots__ = ("wallet_id", "customer_id", "start_time", "end_time", "bucket", "page_size", "page_token")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    customer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    bucket: ReportBucket
    page_size: int
    page_token: str
    def __init__(self, wallet_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bucket: _Optional[_Union[ReportBucket, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetConsumptionReportResponse(_message.Message):
    __slots__ = ("wallets", "next_page_token")
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallets: _containers.RepeatedCompositeFieldContainer[WalletConsumption]
    next_page_token: str
    def __init__(self, wallets: _Optional[_Iterable[_Union[WalletConsumption, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevenueFigures(_message.Message):
    __slots__ = ("currency", "unit", "prepaid_consumed", "revenue_recognized", "prepaid_expired", "breakage", "prepaid_voided", "voided_value", "prepaid_granted", "granted_value", "prepaid_unused", "deferred_revenue", "promotional_consumed", "promotional_cost")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PREPAID_CONSUMED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_RECOGNIZED_FIELD_NUMBER: _ClassVar[int]
    PREPAID_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    BREAKAGE_FIELD_NUMBER: _ClassVar[int]
    PREPAID_VOIDED_FIELD_NUMBER: _ClassVar[int]
    VOIDED_VALUE_FIELD_NUMBER: _ClassVar[int]
    PREPAID_GRANTED_FIELD_NUMBER: _ClassVar[int]
    GRANTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    PREPAID_UNUSED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_REVENUE_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONAL_CONSUMED_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONAL_COST_FIELD_NUMBER: _ClassVar[int]
    currency: str
    unit: str
    prepaid_consumed: str
    revenue_recognized: str
    prepaid_expired: str
    breakage: str
    prepaid_voided: str
    voided_value: str
    prepaid_granted: str
    granted_value: str
    prepaid_unused: str
    deferred_revenue: str
    promotional_consumed: str
    promotional_cost: str
    def __init__(self, currency: _Optional[str] = ..., unit: _Optional[str] = ..., prepaid_consumed: _Optional[str] = ..., revenue_recognized: _Optional[str] = ..., prepaid_expired: _Optional[str] = ..., breakage: _Optional[str] = ..., prepaid_voided: _Optional[str] = ..., voided_value: _Optional[str] = ..., prepaid_granted: _Optional[str] = ..., granted_value: _Optional[str] = ..., prepaid_unused: _Optional[str] = ..., deferred_revenue: _Optional[str] = ..., promotional_consumed: _Optional[str] = ..., promotional_cost: _Optional[str] = ...) -> None: ...

class RevenuePeriod(_message.Message):
    __slots__ = ("start_time", "end_time", "figures")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    figures: _containers.RepeatedCompositeFieldContainer[RevenueFigures]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., figures: _Optional[_Iterable[_Union[RevenueFigures, _Mapping]]] = ...) -> None: ...

class CustomerRevenue(_message.Message):
    __slots__ = ("customer_id", "periods")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    periods: _containers.RepeatedCompositeFieldContainer[RevenuePeriod]
    def __init__(self, customer_id: _Optional[str] = ..., periods: _Optional[_Iterable[_Union[RevenuePeriod, _Mapping]]] = ...) -> None: ...

class GetRevenueReportRequest(_message.Message):
    __slots__ = ("customer_id", "start_time", "end_time", "bucket", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    bucket: ReportBucket
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bucket: _Optional[_Union[ReportBucket, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetRevenueReportResponse(_message.Message):
    __slots__ = ("customers", "total", "next_page_token")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[CustomerRevenue]
    total: _containers.RepeatedCompositeFieldContainer[RevenuePeriod]
    next_page_token: str
    def __init__(self, customers: _Optional[_Iterable[_Union[CustomerRevenue, _Mapping]]] = ..., total: _Optional[_Iterable[_Union[RevenuePeriod, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RunExpiryRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class RunExpiryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class VerifyWalletRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class VerifyWalletResponse(_message.Message):
    __slots__ = ("consistent", "differences", "granted", "consumed", "expired", "voided", "remaining", "overage")
    CONSISTENT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    VOIDED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    consistent: bool
    differences: _containers.RepeatedCompositeFieldContainer[VerifyDifference]
    granted: str
    consumed: str
    expired: str
    voided: str
    remaining: str
    overage: str
    def __init__(self, consistent: _Optional[bool] = ..., differences: _Optional[_Iterable[_Union[VerifyDifference, _Mapping]]] = ..., granted: _Optional[str] = ..., consumed: _Optional[str] = ..., expired: _Optional[str] = ..., voided: _Optional[str] = ..., remaining: _Optional[str] = ..., overage: _Optional[str] = ...) -> None: ...

class CreateHoldRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "amount", "timeout", "feature", "description", "member_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    amount: str
    timeout: _duration_pb2.Duration
    feature: str
    description: str
    member_id: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., amount: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., feature: _Optional[str] = ..., description: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class CreateHoldResponse(_message.Message):
    __slots__ = ("hold", "entry")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    entry: Entry
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class CaptureHoldRequest(_message.Message):
    __slots__ = ("request_id", "hold_id", "amount", "description")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hold_id: str
    amount: str
    description: str
    def __init__(self, request_id: _Optional[str] = ..., hold_id: _Optional[str] = ..., amount: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CaptureHoldResponse(_message.Message):
    __slots__ = ("hold", "entry")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    entry: Entry
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("request_id", "hold_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hold_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., hold_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseHoldResponse(_message.Message):
    __slots__ = ("hold", "entry")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    entry: Entry
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class GetHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class GetHoldResponse(_message.Message):
    __slots__ = ("hold",)
    HOLD_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ...) -> None: ...

class AuthorizeRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "customer_id", "unit", "amount", "feature", "hold", "hold_timeout", "description", "member_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    customer_id: str
    unit: str
    amount: str
    feature: str
    hold: bool
    hold_timeout: _duration_pb2.Duration
    description: str
    member_id: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., unit: _Optional[str] = ..., amount: _Optional[str] = ..., feature: _Optional[str] = ..., hold: _Optional[bool] = ..., hold_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., description: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("allowed", "reason", "wallet_id", "available_before", "available_after", "overage_amount", "shortfall", "hold", "entry", "decide_time", "top_up_amount", "member_remaining")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AFTER_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_REMAINING_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    reason: AuthorizeReason
    wallet_id: str
    available_before: str
    available_after: str
    overage_amount: str
    shortfall: str
    hold: Hold
    entry: Entry
    decide_time: _timestamp_pb2.Timestamp
    top_up_amount: str
    member_remaining: str
    def __init__(self, allowed: _Optional[bool] = ..., reason: _Optional[_Union[AuthorizeReason, str]] = ..., wallet_id: _Optional[str] = ..., available_before: _Optional[str] = ..., available_after: _Optional[str] = ..., overage_amount: _Optional[str] = ..., shortfall: _Optional[str] = ..., hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., top_up_amount: _Optional[str] = ..., member_remaining: _Optional[str] = ...) -> None: ...

class WatchWalletEventsRequest(_message.Message):
    __slots__ = ("wallet_id", "after_cursor", "types")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    after_cursor: int
    types: _containers.RepeatedScalarFieldContainer[WalletEventType]
    def __init__(self, wallet_id: _Optional[str] = ..., after_cursor: _Optional[int] = ..., types: _Optional[_Iterable[_Union[WalletEventType, str]]] = ...) -> None: ...

class WatchWalletEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: WalletEvent
    def __init__(self, event: _Optional[_Union[WalletEvent, _Mapping]] = ...) -> None: ...

class SetTopUpRuleRequest(_message.Message):
    __slots__ = ("request_id", "rule")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    rule: TopUpRule
    def __init__(self, request_id: _Optional[str] = ..., rule: _Optional[_Union[TopUpRule, _Mapping]] = ...) -> None: ...

class SetTopUpRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: TopUpRule
    def __init__(self, rule: _Optional[_Union[TopUpRule, _Mapping]] = ...) -> None: ...

class GetTopUpRuleRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class GetTopUpRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: TopUpRule
    def __init__(self, rule: _Optional[_Union[TopUpRule, _Mapping]] = ...) -> None: ...

class ClearTopUpRuleRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ...) -> None: ...

class ClearTopUpRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: TopUpRule
    def __init__(self, rule: _Optional[_Union[TopUpRule, _Mapping]] = ...) -> None: ...

class ListTopUpsRequest(_message.Message):
    __slots__ = ("wallet_id", "page_size", "page_token")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    page_size: int
    page_token: str
    def __init__(self, wallet_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTopUpsResponse(_message.Message):
    __slots__ = ("top_ups", "next_page_token")
    TOP_UPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    top_ups: _containers.RepeatedCompositeFieldContainer[TopUp]
    next_page_token: str
    def __init__(self, top_ups: _Optional[_Iterable[_Union[TopUp, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ConfirmTopUpRequest(_message.Message):
    __slots__ = ("request_id", "top_up_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    top_up_id: str
    def __init__(self, request_id: _Optional[str] = ..., top_up_id: _Optional[str] = ...) -> None: ...

class ConfirmTopUpResponse(_message.Message):
    __slots__ = ("top_up",)
    TOP_UP_FIELD_NUMBER: _ClassVar[int]
    top_up: TopUp
    def __init__(self, top_up: _Optional[_Union[TopUp, _Mapping]] = ...) -> None: ...

class FailTopUpRequest(_message.Message):
    __slots__ = ("request_id", "top_up_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    top_up_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., top_up_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class FailTopUpResponse(_message.Message):
    __slots__ = ("top_up",)
    TOP_UP_FIELD_NUMBER: _ClassVar[int]
    top_up: TopUp
    def __init__(self, top_up: _Optional[_Union[TopUp, _Mapping]] = ...) -> None: ...

class SetAlertRulesRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "rules")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class SetAlertRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class ListAlertRulesRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class ListAlertRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class CreateWebhookEndpointRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "url", "types", "description")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    url: str
    types: _containers.RepeatedScalarFieldContainer[WalletEventType]
    description: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., url: _Optional[str] = ..., types: _Optional[_Iterable[_Union[WalletEventType, str]]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "secret")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    secret: str
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsRequest(_message.Message):
    __slots__ = ("wallet_id", "page_size", "page_token")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    page_size: int
    page_token: str
    def __init__(self, wallet_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[WebhookEndpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[WebhookEndpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteWebhookEndpointRequest(_message.Message):
    __slots__ = ("request_id", "endpoint_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    endpoint_id: str
    def __init__(self, request_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("endpoint_id", "state", "page_size", "page_token")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    state: WebhookDeliveryState
    page_size: int
    page_token: str
    def __init__(self, endpoint_id: _Optional[str] = ..., state: _Optional[_Union[WebhookDeliveryState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    next_page_token: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RotateWebhookSecretRequest(_message.Message):
    __slots__ = ("request_id", "endpoint_id", "overlap")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    endpoint_id: str
    overlap: _duration_pb2.Duration
    def __init__(self, request_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., overlap: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RotateWebhookSecretResponse(_message.Message):
    __slots__ = ("endpoint", "secret", "previous_secret_expire_time")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    secret: str
    previous_secret_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., secret: _Optional[str] = ..., previous_secret_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAllotmentScheduleRequest(_message.Message):
    __slots__ = ("request_id", "schedule")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    schedule: AllotmentSchedule
    def __init__(self, request_id: _Optional[str] = ..., schedule: _Optional[_Union[AllotmentSchedule, _Mapping]] = ...) -> None: ...

class CreateAllotmentScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: AllotmentSchedule
    def __init__(self, schedule: _Optional[_Union[AllotmentSchedule, _Mapping]] = ...) -> None: ...

class ListAllotmentSchedulesRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class ListAllotmentSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[AllotmentSchedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[AllotmentSchedule, _Mapping]]] = ...) -> None: ...

class EndAllotmentScheduleRequest(_message.Message):
    __slots__ = ("request_id", "schedule_id", "end_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    schedule_id: str
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., schedule_id: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EndAllotmentScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: AllotmentSchedule
    def __init__(self, schedule: _Optional[_Union[AllotmentSchedule, _Mapping]] = ...) -> None: ...

class GetDepletionForecastRequest(_message.Message):
    __slots__ = ("wallet_id", "horizon")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    horizon: _duration_pb2.Duration
    def __init__(self, wallet_id: _Optional[str] = ..., horizon: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ForecastExpiry(_message.Message):
    __slots__ = ("grant_id", "expire_time", "amount")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    expire_time: _timestamp_pb2.Timestamp
    amount: str
    def __init__(self, grant_id: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[str] = ...) -> None: ...

class ForecastTopUp(_message.Message):
    __slots__ = ("time", "amount")
    TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    amount: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[str] = ...) -> None: ...

class GetDepletionForecastResponse(_message.Message):
    __slots__ = ("wallet_id", "as_of_time", "available", "daily_burn", "daily_burn_low", "daily_burn_high", "depletion_time", "depletion_earliest_time", "depletion_latest_time", "expiries", "top_ups", "overage", "horizon_end_time")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DAILY_BURN_FIELD_NUMBER: _ClassVar[int]
    DAILY_BURN_LOW_FIELD_NUMBER: _ClassVar[int]
    DAILY_BURN_HIGH_FIELD_NUMBER: _ClassVar[int]
    DEPLETION_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPLETION_EARLIEST_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPLETION_LATEST_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRIES_FIELD_NUMBER: _ClassVar[int]
    TOP_UPS_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    HORIZON_END_TIME_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    as_of_time: _timestamp_pb2.Timestamp
    available: str
    daily_burn: str
    daily_burn_low: str
    daily_burn_high: str
    depletion_time: _timestamp_pb2.Timestamp
    depletion_earliest_time: _timestamp_pb2.Timestamp
    depletion_latest_time: _timestamp_pb2.Timestamp
    expiries: _containers.RepeatedCompositeFieldContainer[ForecastExpiry]
    top_ups: _containers.RepeatedCompositeFieldContainer[ForecastTopUp]
    overage: str
    horizon_end_time: _timestamp_pb2.Timestamp
    def __init__(self, wallet_id: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., available: _Optional[str] = ..., daily_burn: _Optional[str] = ..., daily_burn_low: _Optional[str] = ..., daily_burn_high: _Optional[str] = ..., depletion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., depletion_earliest_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., depletion_latest_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expiries: _Optional[_Iterable[_Union[ForecastExpiry, _Mapping]]] = ..., top_ups: _Optional[_Iterable[_Union[ForecastTopUp, _Mapping]]] = ..., overage: _Optional[str] = ..., horizon_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SignalPolicy(_message.Message):
    __slots__ = ("wallet_id", "spike_multiple", "slowdown_fraction", "depletion_days", "disabled", "warm_up_days")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    SPIKE_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    SLOWDOWN_FRACTION_FIELD_NUMBER: _ClassVar[int]
    DEPLETION_DAYS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    WARM_UP_DAYS_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    spike_multiple: str
    slowdown_fraction: str
    depletion_days: int
    disabled: bool
    warm_up_days: int
    def __init__(self, wallet_id: _Optional[str] = ..., spike_multiple: _Optional[str] = ..., slowdown_fraction: _Optional[str] = ..., depletion_days: _Optional[int] = ..., disabled: _Optional[bool] = ..., warm_up_days: _Optional[int] = ...) -> None: ...

class SetSignalPolicyRequest(_message.Message):
    __slots__ = ("request_id", "policy")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    policy: SignalPolicy
    def __init__(self, request_id: _Optional[str] = ..., policy: _Optional[_Union[SignalPolicy, _Mapping]] = ...) -> None: ...

class SetSignalPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SignalPolicy
    def __init__(self, policy: _Optional[_Union[SignalPolicy, _Mapping]] = ...) -> None: ...

class GetSignalPolicyRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class GetSignalPolicyResponse(_message.Message):
    __slots__ = ("policy", "open_signals")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    OPEN_SIGNALS_FIELD_NUMBER: _ClassVar[int]
    policy: SignalPolicy
    open_signals: _containers.RepeatedScalarFieldContainer[WalletEventType]
    def __init__(self, policy: _Optional[_Union[SignalPolicy, _Mapping]] = ..., open_signals: _Optional[_Iterable[_Union[WalletEventType, str]]] = ...) -> None: ...

class PoolMember(_message.Message):
    __slots__ = ("wallet_id", "member_id", "budget_amount", "budget_share", "budget_period", "policy", "create_time", "update_time", "period_start_time", "spent", "held", "budget", "remaining")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGET_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SHARE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_PERIOD_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    member_id: str
    budget_amount: str
    budget_share: str
    budget_period: BudgetPeriod
    policy: BudgetPolicy
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    period_start_time: _timestamp_pb2.Timestamp
    spent: str
    held: str
    budget: str
    remaining: str
    def __init__(self, wallet_id: _Optional[str] = ..., member_id: _Optional[str] = ..., budget_amount: _Optional[str] = ..., budget_share: _Optional[str] = ..., budget_period: _Optional[_Union[BudgetPeriod, str]] = ..., policy: _Optional[_Union[BudgetPolicy, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spent: _Optional[str] = ..., held: _Optional[str] = ..., budget: _Optional[str] = ..., remaining: _Optional[str] = ...) -> None: ...

class SetPoolMemberRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "member_id", "budget_amount", "budget_share", "budget_period", "policy")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGET_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SHARE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_PERIOD_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    member_id: str
    budget_amount: str
    budget_share: str
    budget_period: BudgetPeriod
    policy: BudgetPolicy
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., member_id: _Optional[str] = ..., budget_amount: _Optional[str] = ..., budget_share: _Optional[str] = ..., budget_period: _Optional[_Union[BudgetPeriod, str]] = ..., policy: _Optional[_Union[BudgetPolicy, str]] = ...) -> None: ...

class SetPoolMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: PoolMember
    def __init__(self, member: _Optional[_Union[PoolMember, _Mapping]] = ...) -> None: ...

class GetPoolMemberRequest(_message.Message):
    __slots__ = ("wallet_id", "member_id")
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    member_id: str
    def __init__(self, wallet_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class GetPoolMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: PoolMember
    def __init__(self, member: _Optional[_Union[PoolMember, _Mapping]] = ...) -> None: ...

class ListPoolMembersRequest(_message.Message):
    __slots__ = ("wallet_id",)
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_id: str
    def __init__(self, wallet_id: _Optional[str] = ...) -> None: ...

class ListPoolMembersResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[PoolMember]
    def __init__(self, members: _Optional[_Iterable[_Union[PoolMember, _Mapping]]] = ...) -> None: ...

class RemovePoolMemberRequest(_message.Message):
    __slots__ = ("request_id", "wallet_id", "member_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    wallet_id: str
    member_id: str
    def __init__(self, request_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class RemovePoolMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: PoolMember
    def __init__(self, member: _Optional[_Union[PoolMember, _Mapping]] = ...) -> None: ...
