"""Pieces both services share: money parsing, errors, clock, database bootstrap, gRPC plumbing.

Nothing here knows about wallets or meters; domain rules live in each service's `domain/`.
"""

import os

# gRPC's fork handlers serve a process that forks and goes on using gRPC in the child; ours never
# do (workers are spawned; pgserver forks only to exec pg_ctl). Off, gRPC also prints no line of
# its own (not JSON) about skipping them when a process forks at exit. Read when grpc is first
# imported, which is after this package in every entry point.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
