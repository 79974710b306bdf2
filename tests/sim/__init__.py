"""A seeded simulator of the ledger, in the spirit of TigerBeetle's VOPR (docs/simulator.md):
concurrent operations and faults chosen by a seed, invariants checked after every step."""
