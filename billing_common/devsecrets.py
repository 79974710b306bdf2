"""Everything a deployment without an embedded database must be given, made for development:
`python -m billing_common.devsecrets --out DIR [--host NAME]`.

With the embedded database each service creates what it lacks in `.data/` on first start; with a
configured database (docker-compose.yml) it refuses to guess, so this one-shot command fills a
folder the services mount: `tls/` (billing_common.devcerts), `admin.key` (an admin API key for
both services), `rating-ledger.key` (the rating service's key for the ledger) and `secrets.key`
(the ledger's key for webhook secrets at rest). Every file is readable by its owner only, and
what exists is kept, so running it again changes nothing. Production deployments bring their own
certificates and keys from their secret store.
"""

from __future__ import annotations

import argparse
import base64
import secrets
from collections.abc import Sequence
from pathlib import Path

from billing_common import api_keys, auth_setup, devcerts

SECRETS_KEY_FILE = "secrets.key"
SECRETS_KEY_BYTES = 32  # AES-256


def ensure(folder: Path, hosts: Sequence[str] = ()) -> None:
    devcerts.ensure(folder / "tls", list(hosts))
    for name in (auth_setup.ADMIN_KEY_FILE, auth_setup.RATING_LEDGER_KEY_FILE):
        auth_setup.write_key(folder / name, api_keys.new_key()[1])
    secrets_key = base64.b64encode(secrets.token_bytes(SECRETS_KEY_BYTES)).decode()
    auth_setup.write_key(folder / SECRETS_KEY_FILE, secrets_key)


def build_parser() -> argparse.ArgumentParser:
    return devcerts.folder_parser(
        "python -m billing_common.devsecrets",
        "Create development certificates and keys for a deployment with a configured database "
        "(kept if they exist).",
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    ensure(args.out, args.host)
    print(f"development certificates and keys in {args.out}")


if __name__ == "__main__":
    main()
