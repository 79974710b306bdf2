"""`python -m billing_cli` and the `billing` console script."""

from __future__ import annotations

from billing_cli.app import app

if __name__ == "__main__":
    app(prog_name="billing")
