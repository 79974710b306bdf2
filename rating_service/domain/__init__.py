"""The rating rules: plain Python, no database, no transport, no clock reads (time is an
argument).

- model: price versions, plans, assignments, and which of them is in force at a time.
- pricing: the five pricing models over tiers (Decimal only).
- aggregation: SUM, COUNT, UNIQUE_COUNT, MAX, LATEST as a state that takes one event at a time.
- meters: which events a meter counts and the value it takes from them.
- rating: the incremental rule, charge = price(after) - price(before).
- events: an event as it comes in, the answer for it, and the checks it needs no state for.
- batch: batch rating, what accepting a batch of events changes.
- charges: a new charge and the ledger request it becomes.
- status: the event, charge, undo refund and invoice status machines, and the retry rule.
- refunds: how a negative charge is split over debits; how the ledger covered a booking.
- invoice: an invoice from its line totals; the outstanding overage; the closing snapshot.
Billing period arithmetic (cadence and anchor) is shared: billing_common/periods.py.
"""
