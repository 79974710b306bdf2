"""Pieces both services share: money parsing, errors, clock, database bootstrap, gRPC plumbing.

Nothing here knows about wallets or meters; domain rules live in each service's `domain/`.
"""
