import datetime

from billing.type.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Aggregation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_UNSPECIFIED: _ClassVar[Aggregation]
    AGGREGATION_SUM: _ClassVar[Aggregation]
    AGGREGATION_COUNT: _ClassVar[Aggregation]
    AGGREGATION_UNIQUE_COUNT: _ClassVar[Aggregation]
    AGGREGATION_MAX: _ClassVar[Aggregation]
    AGGREGATION_LATEST: _ClassVar[Aggregation]

class PricingModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICING_MODEL_UNSPECIFIED: _ClassVar[PricingModel]
    PRICING_MODEL_PER_UNIT: _ClassVar[PricingModel]
    PRICING_MODEL_PACKAGE: _ClassVar[PricingModel]
    PRICING_MODEL_GRADUATED: _ClassVar[PricingModel]
    PRICING_MODEL_VOLUME: _ClassVar[PricingModel]
    PRICING_MODEL_STAIR_STEP: _ClassVar[PricingModel]

class Cadence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CADENCE_UNSPECIFIED: _ClassVar[Cadence]
    CADENCE_DAILY: _ClassVar[Cadence]
    CADENCE_WEEKLY: _ClassVar[Cadence]
    CADENCE_MONTHLY: _ClassVar[Cadence]
    CADENCE_QUARTERLY: _ClassVar[Cadence]
    CADENCE_YEARLY: _ClassVar[Cadence]

class FixedChargeCollection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIXED_CHARGE_COLLECTION_UNSPECIFIED: _ClassVar[FixedChargeCollection]
    FIXED_CHARGE_COLLECTION_INVOICE: _ClassVar[FixedChargeCollection]
    FIXED_CHARGE_COLLECTION_DEBIT: _ClassVar[FixedChargeCollection]

class CommitmentPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMITMENT_PERIOD_UNSPECIFIED: _ClassVar[CommitmentPeriod]
    COMMITMENT_PERIOD_PER_PERIOD: _ClassVar[CommitmentPeriod]
    COMMITMENT_PERIOD_ANNUAL: _ClassVar[CommitmentPeriod]

class IngestMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_MODE_UNSPECIFIED: _ClassVar[IngestMode]
    INGEST_MODE_ASYNC: _ClassVar[IngestMode]
    INGEST_MODE_SYNC: _ClassVar[IngestMode]

class EventStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_STATUS_UNSPECIFIED: _ClassVar[EventStatus]
    EVENT_STATUS_ACCEPTED: _ClassVar[EventStatus]
    EVENT_STATUS_DUPLICATE: _ClassVar[EventStatus]
    EVENT_STATUS_REJECTED: _ClassVar[EventStatus]
    EVENT_STATUS_CHARGED: _ClassVar[EventStatus]
    EVENT_STATUS_DENIED: _ClassVar[EventStatus]

class ChargeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHARGE_STATUS_UNSPECIFIED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_PENDING: _ClassVar[ChargeStatus]
    CHARGE_STATUS_ACKNOWLEDGED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_DENIED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_FAILED: _ClassVar[ChargeStatus]

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_DRAFT: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_FINAL: _ClassVar[InvoiceStatus]

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_HOUR: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]
AGGREGATION_UNSPECIFIED: Aggregation
AGGREGATION_SUM: Aggregation
AGGREGATION_COUNT: Aggregation
AGGREGATION_UNIQUE_COUNT: Aggregation
AGGREGATION_MAX: Aggregation
AGGREGATION_LATEST: Aggregation
PRICING_MODEL_UNSPECIFIED: PricingModel
PRICING_MODEL_PER_UNIT: PricingModel
PRICING_MODEL_PACKAGE: PricingModel
PRICING_MODEL_GRADUATED: PricingModel
PRICING_MODEL_VOLUME: PricingModel
PRICING_MODEL_STAIR_STEP: PricingModel
CADENCE_UNSPECIFIED: Cadence
CADENCE_DAILY: Cadence
CADENCE_WEEKLY: Cadence
CADENCE_MONTHLY: Cadence
CADENCE_QUARTERLY: Cadence
CADENCE_YEARLY: Cadence
FIXED_CHARGE_COLLECTION_UNSPECIFIED: FixedChargeCollection
FIXED_CHARGE_COLLECTION_INVOICE: FixedChargeCollection
FIXED_CHARGE_COLLECTION_DEBIT: FixedChargeCollection
COMMITMENT_PERIOD_UNSPECIFIED: CommitmentPeriod
COMMITMENT_PERIOD_PER_PERIOD: CommitmentPeriod
COMMITMENT_PERIOD_ANNUAL: CommitmentPeriod
INGEST_MODE_UNSPECIFIED: IngestMode
INGEST_MODE_ASYNC: IngestMode
INGEST_MODE_SYNC: IngestMode
EVENT_STATUS_UNSPECIFIED: EventStatus
EVENT_STATUS_ACCEPTED: EventStatus
EVENT_STATUS_DUPLICATE: EventStatus
EVENT_STATUS_REJECTED: EventStatus
EVENT_STATUS_CHARGED: EventStatus
EVENT_STATUS_DENIED: EventStatus
CHARGE_STATUS_UNSPECIFIED: ChargeStatus
CHARGE_STATUS_PENDING: ChargeStatus
CHARGE_STATUS_ACKNOWLEDGED: ChargeStatus
CHARGE_STATUS_DENIED: ChargeStatus
CHARGE_STATUS_FAILED: ChargeStatus
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_DRAFT: InvoiceStatus
INVOICE_STATUS_FINAL: InvoiceStatus
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_HOUR: Granularity
GRANULARITY_DAY: Granularity

class Meter(_message.Message):
    __slots__ = ("meter_id", "key", "event_type", "aggregation", "value_property", "filters", "description", "create_time")
    class FiltersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    VALUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    key: str
    event_type: str
    aggregation: Aggregation
    value_property: str
    filters: _containers.ScalarMap[str, str]
    description: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, meter_id: _Optional[str] = ..., key: _Optional[str] = ..., event_type: _Optional[str] = ..., aggregation: _Optional[_Union[Aggregation, str]] = ..., value_property: _Optional[str] = ..., filters: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Tier(_message.Message):
    __slots__ = ("up_to", "unit_price", "flat_price")
    UP_TO_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    FLAT_PRICE_FIELD_NUMBER: _ClassVar[int]
    up_to: str
    unit_price: str
    flat_price: str
    def __init__(self, up_to: _Optional[str] = ..., unit_price: _Optional[str] = ..., flat_price: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("price_id", "version", "meter_id", "unit", "model", "unit_price", "package_size", "package_price", "tiers", "effective_time", "create_time")
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    price_id: str
    version: int
    meter_id: str
    unit: str
    model: PricingModel
    unit_price: str
    package_size: str
    package_price: str
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    effective_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, price_id: _Optional[str] = ..., version: _Optional[int] = ..., meter_id: _Optional[str] = ..., unit: _Optional[str] = ..., model: _Optional[_Union[PricingModel, str]] = ..., unit_price: _Optional[str] = ..., package_size: _Optional[str] = ..., package_price: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlanPrice(_message.Message):
    __slots__ = ("price_id", "included_quantity")
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    price_id: str
    included_quantity: str
    def __init__(self, price_id: _Optional[str] = ..., included_quantity: _Optional[str] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "name", "cadence", "billing_anchor_time", "fixed_charge", "unit", "prices", "create_time", "fixed_charge_collection", "minimum_commitment", "commitment_period", "prorate_fixed_charge")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CADENCE_FIELD_NUMBER: _ClassVar[int]
    BILLING_ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PRORATE_FIXED_CHARGE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    name: str
    cadence: Cadence
    billing_anchor_time: _timestamp_pb2.Timestamp
    fixed_charge: str
    unit: str
    prices: _containers.RepeatedCompositeFieldContainer[PlanPrice]
    create_time: _timestamp_pb2.Timestamp
    fixed_charge_collection: FixedChargeCollection
    minimum_commitment: str
    commitment_period: CommitmentPeriod
    prorate_fixed_charge: bool
    def __init__(self, plan_id: _Optional[str] = ..., name: _Optional[str] = ..., cadence: _Optional[_Union[Cadence, str]] = ..., billing_anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fixed_charge: _Optional[str] = ..., unit: _Optional[str] = ..., prices: _Optional[_Iterable[_Union[PlanPrice, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fixed_charge_collection: _Optional[_Union[FixedChargeCollection, str]] = ..., minimum_commitment: _Optional[str] = ..., commitment_period: _Optional[_Union[CommitmentPeriod, str]] = ..., prorate_fixed_charge: _Optional[bool] = ...) -> None: ...

class PlanAssignment(_message.Message):
    __slots__ = ("assignment_id", "customer_id", "plan_id", "wallet_id", "start_time", "create_time", "end_time")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    customer_id: str
    plan_id: str
    wallet_id: str
    start_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, assignment_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "customer_id", "type", "occurred_time", "properties", "member_id")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TIME_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    customer_id: str
    type: str
    occurred_time: _timestamp_pb2.Timestamp
    properties: _containers.ScalarMap[str, str]
    member_id: str
    def __init__(self, event_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., properties: _Optional[_Mapping[str, str]] = ..., member_id: _Optional[str] = ...) -> None: ...

class Charge(_message.Message):
    __slots__ = ("meter_id", "price_id", "price_version", "amount", "quantity_before", "quantity_after", "period_start_time", "period_end_time", "status", "ledger_entry_id")
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_BEFORE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_AFTER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    price_id: str
    price_version: int
    amount: str
    quantity_before: str
    quantity_after: str
    period_start_time: _timestamp_pb2.Timestamp
    period_end_time: _timestamp_pb2.Timestamp
    status: ChargeStatus
    ledger_entry_id: str
    def __init__(self, meter_id: _Optional[str] = ..., price_id: _Optional[str] = ..., price_version: _Optional[int] = ..., amount: _Optional[str] = ..., quantity_before: _Optional[str] = ..., quantity_after: _Optional[str] = ..., period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ChargeStatus, str]] = ..., ledger_entry_id: _Optional[str] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("event_id", "status", "error", "charges", "available_after")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CHARGES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AFTER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    status: EventStatus
    error: _types_pb2.ItemError
    charges: _containers.RepeatedCompositeFieldContainer[Charge]
    available_after: str
    def __init__(self, event_id: _Optional[str] = ..., status: _Optional[_Union[EventStatus, str]] = ..., error: _Optional[_Union[_types_pb2.ItemError, _Mapping]] = ..., charges: _Optional[_Iterable[_Union[Charge, _Mapping]]] = ..., available_after: _Optional[str] = ...) -> None: ...

class UsagePoint(_message.Message):
    __slots__ = ("start_time", "end_time", "group", "quantity")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    group: str
    quantity: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., quantity: _Optional[str] = ...) -> None: ...

class InvoiceTierLine(_message.Message):
    __slots__ = ("tier_index", "quantity", "unit_price", "flat_price", "amount")
    TIER_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    FLAT_PRICE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    tier_index: int
    quantity: str
    unit_price: str
    flat_price: str
    amount: str
    def __init__(self, tier_index: _Optional[int] = ..., quantity: _Optional[str] = ..., unit_price: _Optional[str] = ..., flat_price: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("line_id", "meter_id", "price_id", "price_version", "description", "quantity", "amount", "tiers", "denied_amount", "pending_amount", "blocks", "failed_amount")
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    DENIED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    FAILED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    meter_id: str
    price_id: str
    price_version: int
    description: str
    quantity: str
    amount: str
    tiers: _containers.RepeatedCompositeFieldContainer[InvoiceTierLine]
    denied_amount: str
    pending_amount: str
    blocks: str
    failed_amount: str
    def __init__(self, line_id: _Optional[str] = ..., meter_id: _Optional[str] = ..., price_id: _Optional[str] = ..., price_version: _Optional[int] = ..., description: _Optional[str] = ..., quantity: _Optional[str] = ..., amount: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[InvoiceTierLine, _Mapping]]] = ..., denied_amount: _Optional[str] = ..., pending_amount: _Optional[str] = ..., blocks: _Optional[str] = ..., failed_amount: _Optional[str] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("invoice_id", "customer_id", "assignment_id", "plan_id", "wallet_id", "period_start_time", "period_end_time", "status", "unit", "fixed_charge", "lines", "usage_total", "total", "prepaid_credits_applied", "promotional_credits_applied", "overage_due", "close_time", "overage_settled", "top_ups", "true_up", "fixed_charge_paid", "commitment_start_time", "commitment_end_time", "commitment_used", "commitment_remaining")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    USAGE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PREPAID_CREDITS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONAL_CREDITS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_DUE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_SETTLED_FIELD_NUMBER: _ClassVar[int]
    TOP_UPS_FIELD_NUMBER: _ClassVar[int]
    TRUE_UP_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_PAID_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_END_TIME_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_USED_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_REMAINING_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    customer_id: str
    assignment_id: str
    plan_id: str
    wallet_id: str
    period_start_time: _timestamp_pb2.Timestamp
    period_end_time: _timestamp_pb2.Timestamp
    status: InvoiceStatus
    unit: str
    fixed_charge: str
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    usage_total: str
    total: str
    prepaid_credits_applied: str
    promotional_credits_applied: str
    overage_due: str
    close_time: _timestamp_pb2.Timestamp
    overage_settled: str
    top_ups: _containers.RepeatedCompositeFieldContainer[InvoiceTopUp]
    true_up: str
    fixed_charge_paid: str
    commitment_start_time: _timestamp_pb2.Timestamp
    commitment_end_time: _timestamp_pb2.Timestamp
    commitment_used: str
    commitment_remaining: str
    def __init__(self, invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., assignment_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., unit: _Optional[str] = ..., fixed_charge: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ..., usage_total: _Optional[str] = ..., total: _Optional[str] = ..., prepaid_credits_applied: _Optional[str] = ..., promotional_credits_applied: _Optional[str] = ..., overage_due: _Optional[str] = ..., close_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overage_settled: _Optional[str] = ..., top_ups: _Optional[_Iterable[_Union[InvoiceTopUp, _Mapping]]] = ..., true_up: _Optional[str] = ..., fixed_charge_paid: _Optional[str] = ..., commitment_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., commitment_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., commitment_used: _Optional[str] = ..., commitment_remaining: _Optional[str] = ...) -> None: ...

class InvoiceTopUp(_message.Message):
    __slots__ = ("top_up_id", "credits", "unit_price", "currency", "price", "create_time")
    TOP_UP_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    top_up_id: str
    credits: str
    unit_price: str
    currency: str
    price: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, top_up_id: _Optional[str] = ..., credits: _Optional[str] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ..., price: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LineEvent(_message.Message):
    __slots__ = ("event", "charge")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CHARGE_FIELD_NUMBER: _ClassVar[int]
    event: Event
    charge: Charge
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., charge: _Optional[_Union[Charge, _Mapping]] = ...) -> None: ...

class CreateMeterRequest(_message.Message):
    __slots__ = ("request_id", "key", "event_type", "aggregation", "value_property", "filters", "description")
    class FiltersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    VALUE_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    key: str
    event_type: str
    aggregation: Aggregation
    value_property: str
    filters: _containers.ScalarMap[str, str]
    description: str
    def __init__(self, request_id: _Optional[str] = ..., key: _Optional[str] = ..., event_type: _Optional[str] = ..., aggregation: _Optional[_Union[Aggregation, str]] = ..., value_property: _Optional[str] = ..., filters: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: Meter
    def __init__(self, meter: _Optional[_Union[Meter, _Mapping]] = ...) -> None: ...

class GetMeterRequest(_message.Message):
    __slots__ = ("meter_id",)
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    def __init__(self, meter_id: _Optional[str] = ...) -> None: ...

class GetMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: Meter
    def __init__(self, meter: _Optional[_Union[Meter, _Mapping]] = ...) -> None: ...

class ListMetersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMetersResponse(_message.Message):
    __slots__ = ("meters", "next_page_token")
    METERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meters: _containers.RepeatedCompositeFieldContainer[Meter]
    next_page_token: str
    def __init__(self, meters: _Optional[_Iterable[_Union[Meter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreatePriceRequest(_message.Message):
    __slots__ = ("request_id", "price_id", "meter_id", "unit", "model", "unit_price", "package_size", "package_price", "tiers", "effective_time", "backfill")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    price_id: str
    meter_id: str
    unit: str
    model: PricingModel
    unit_price: str
    package_size: str
    package_price: str
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    effective_time: _timestamp_pb2.Timestamp
    backfill: bool
    def __init__(self, request_id: _Optional[str] = ..., price_id: _Optional[str] = ..., meter_id: _Optional[str] = ..., unit: _Optional[str] = ..., model: _Optional[_Union[PricingModel, str]] = ..., unit_price: _Optional[str] = ..., package_size: _Optional[str] = ..., package_price: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backfill: _Optional[bool] = ...) -> None: ...

class CreatePriceResponse(_message.Message):
    __slots__ = ("price",)
    PRICE_FIELD_NUMBER: _ClassVar[int]
    price: Price
    def __init__(self, price: _Optional[_Union[Price, _Mapping]] = ...) -> None: ...

class ListPricesRequest(_message.Message):
    __slots__ = ("meter_id", "price_id", "page_size", "page_token")
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    price_id: str
    page_size: int
    page_token: str
    def __init__(self, meter_id: _Optional[str] = ..., price_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPricesResponse(_message.Message):
    __slots__ = ("prices", "next_page_token")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[Price]
    next_page_token: str
    def __init__(self, prices: _Optional[_Iterable[_Union[Price, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreatePlanRequest(_message.Message):
    __slots__ = ("request_id", "name", "cadence", "billing_anchor_time", "fixed_charge", "unit", "prices", "fixed_charge_collection", "minimum_commitment", "commitment_period", "prorate_fixed_charge")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CADENCE_FIELD_NUMBER: _ClassVar[int]
    BILLING_ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    FIXED_CHARGE_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PRORATE_FIXED_CHARGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    cadence: Cadence
    billing_anchor_time: _timestamp_pb2.Timestamp
    fixed_charge: str
    unit: str
    prices: _containers.RepeatedCompositeFieldContainer[PlanPrice]
    fixed_charge_collection: FixedChargeCollection
    minimum_commitment: str
    commitment_period: CommitmentPeriod
    prorate_fixed_charge: bool
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., cadence: _Optional[_Union[Cadence, str]] = ..., billing_anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fixed_charge: _Optional[str] = ..., unit: _Optional[str] = ..., prices: _Optional[_Iterable[_Union[PlanPrice, _Mapping]]] = ..., fixed_charge_collection: _Optional[_Union[FixedChargeCollection, str]] = ..., minimum_commitment: _Optional[str] = ..., commitment_period: _Optional[_Union[CommitmentPeriod, str]] = ..., prorate_fixed_charge: _Optional[bool] = ...) -> None: ...

class CreatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class AssignPlanRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "plan_id", "wallet_id", "start_time", "backfill")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    plan_id: str
    wallet_id: str
    start_time: _timestamp_pb2.Timestamp
    backfill: bool
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., wallet_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backfill: _Optional[bool] = ...) -> None: ...

class AssignPlanResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: PlanAssignment
    def __init__(self, assignment: _Optional[_Union[PlanAssignment, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPlanAssignmentRequest(_message.Message):
    __slots__ = ("customer_id", "at_time")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AT_TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    at_time: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., at_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPlanAssignmentResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: PlanAssignment
    def __init__(self, assignment: _Optional[_Union[PlanAssignment, _Mapping]] = ...) -> None: ...

class EndPlanAssignmentRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "end_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EndPlanAssignmentResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: PlanAssignment
    def __init__(self, assignment: _Optional[_Union[PlanAssignment, _Mapping]] = ...) -> None: ...

class IngestEventsRequest(_message.Message):
    __slots__ = ("request_id", "events", "mode")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    mode: IngestMode
    def __init__(self, request_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., mode: _Optional[_Union[IngestMode, str]] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ...) -> None: ...

class BackfillEventsRequest(_message.Message):
    __slots__ = ("request_id", "events")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, request_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class BackfillEventsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("request_id", "events", "mode")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    mode: IngestMode
    def __init__(self, request_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., mode: _Optional[_Union[IngestMode, str]] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("request_id", "results", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    error: _types_pb2.ItemError
    def __init__(self, request_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ..., error: _Optional[_Union[_types_pb2.ItemError, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("customer_id", "meter_id", "time_range", "period_time", "granularity", "group_by_property")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_PROPERTY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    meter_id: str
    time_range: _types_pb2.TimeRange
    period_time: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by_property: str
    def __init__(self, customer_id: _Optional[str] = ..., meter_id: _Optional[str] = ..., time_range: _Optional[_Union[_types_pb2.TimeRange, _Mapping]] = ..., period_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by_property: _Optional[str] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("total", "start_time", "end_time", "series")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    total: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    series: _containers.RepeatedCompositeFieldContainer[UsagePoint]
    def __init__(self, total: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., series: _Optional[_Iterable[_Union[UsagePoint, _Mapping]]] = ...) -> None: ...

class PreviewChargeRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class PreviewChargeResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: EventResult
    def __init__(self, result: _Optional[_Union[EventResult, _Mapping]] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id", "customer_id", "period_time")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_TIME_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    customer_id: str
    period_time: _timestamp_pb2.Timestamp
    def __init__(self, invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., period_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("customer_id", "status", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    status: InvoiceStatus
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "next_page_token")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[Invoice]
    next_page_token: str
    def __init__(self, invoices: _Optional[_Iterable[_Union[Invoice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CloseBillingPeriodRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "period_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    period_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., period_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CloseBillingPeriodResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class ListInvoiceLineEventsRequest(_message.Message):
    __slots__ = ("invoice_id", "line_id", "page_size", "page_token")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    line_id: str
    page_size: int
    page_token: str
    def __init__(self, invoice_id: _Optional[str] = ..., line_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvoiceLineEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[LineEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[LineEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
