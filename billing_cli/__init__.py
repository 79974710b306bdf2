"""`billing`: the operator command line for the ledger and rating services.

Run it as `billing ...` (installed script) or `python -m billing_cli ...`. It talks gRPC to both
services through the generated stubs; see `billing --help` and the README's "Operator CLI".
"""

from __future__ import annotations

__all__ = ["app"]


def __getattr__(name: str) -> object:
    # Lazy, so `import billing_cli` stays cheap and import cycles cannot form.
    if name == "app":
        from billing_cli.app import app

        return app
    raise AttributeError(name)
