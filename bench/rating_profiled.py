"""The rating service under cProfile: `python -m bench.rating_profiled serve` (same settings as
`python -m rating_service serve`); on a clean stop (SIGTERM) the profile is written to
$BENCH_PROFILE_OUT (default .data/rating.prof). Used by `bench/ingest_e2e.py --profile`."""

from __future__ import annotations

import cProfile
import os

from rating_service.__main__ import cli

if __name__ == "__main__":
    profile = cProfile.Profile()
    profile.enable()
    try:
        cli()
    finally:
        profile.disable()
        profile.dump_stats(os.environ.get("BENCH_PROFILE_OUT", ".data/rating.prof"))
