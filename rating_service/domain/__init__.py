"""The rating rules: plain Python, no database, no transport, no clock reads.

- model: meters, price versions, plans, assignments.
- pricing: the five pricing models over tiers (Decimal only).
- aggregation: SUM, COUNT, UNIQUE_COUNT, MAX, LATEST as a state that takes one event at a time.
- periods: billing period arithmetic (cadence and anchor).
- meters: which events a meter counts and the value it takes from them.
- rating: the incremental rule, charge = price(after) - price(before).
"""
