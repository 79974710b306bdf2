"""A seeded simulator of the ledger, in the spirit of TigerBeetle's VOPR (docs/simulator.md):
concurrent operations and faults chosen by a seed, invariants checked after every step."""

import os

# The simulator restarts PostgreSQL with pg_ctl (as the server's own user: a real fork()) while
# gRPC threads serve the rating seeds. With gRPC's fork support on, its fork handlers run in that
# child, which then sometimes dies of SIGSEGV before pg_ctl starts (seen about once in 8 restarts
# under gRPC traffic; none in 80 with it off). No forked child of the simulator uses gRPC. Set
# before grpc is first imported (python -m tests.sim and its worker processes import this first).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
