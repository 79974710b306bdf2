"""The ledger's rules: plain Python, no database, no transport, no clock reads.

- model: wallets, grants, entries, allocations.
- burndown: the deterministic order grants are used in.
- ledger: debit, grant, void, refund, expiry and overage settlement as pure functions.
- balance: the balance of a wallet at an instant.
"""
