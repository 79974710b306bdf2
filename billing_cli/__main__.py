"""`python -m billing_cli` and the `billing` console script."""

from __future__ import annotations

from billing_cli.app import app, main_script

__all__ = ["app", "main_script"]

if __name__ == "__main__":
    main_script()
