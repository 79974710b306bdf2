"""The tests' development CA: created once per test process in a temporary folder (the session
fixture in tests/conftest.py asks for it first), trusted by every test client
(tests/support/channels.py) and presented by every test server (the settings below; service
processes get them through the environment)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from billing_common import devcerts


@functools.cache
def dev_ca() -> devcerts.DevCerts:
    folder = Path(tempfile.mkdtemp(prefix="billing-test-tls-"))
    atexit.register(shutil.rmtree, folder, True)
    return devcerts.ensure(folder)


def server_settings() -> dict[str, Any]:
    """A server's TLS settings (both services): the test CA's server certificate; and its HTTP
    port on a free port."""
    certs = dev_ca()
    return {
        "tls_cert_file": str(certs.server_cert),
        "tls_key_file": str(certs.server_key),
        "http_listen": "127.0.0.1:0",  # the HTTP/JSON port too, on a free port
    }


def rating_settings() -> dict[str, Any]:
    """The rating service's: its server's, and its ledger client trusting the test CA."""
    return {**server_settings(), "ledger_tls_ca_file": str(dev_ca().ca)}


def service_env() -> dict[str, str]:
    """The same for service processes, as environment variables (both services and the CLI)."""
    env = {f"LEDGER_{k.upper()}": v for k, v in server_settings().items()}
    env.update({f"RATING_{k.upper()}": v for k, v in rating_settings().items()})
    env["BILLING_CA_FILE"] = str(dev_ca().ca)  # the CLI's
    return env
