"""The CLI's transport and credentials: TLS trusting the CA it is given, and the API key sent
as `authorization: Bearer <key>` on every call. The server here records what it was sent (the
ledger's real authentication is tested with the ledger)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common import devcerts
from billing_common.tls import ServerTls
from tests.support.tls import dev_ca

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def get_wallet(
        self, request: pb.GetWalletRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWalletResponse:
        self.metadata.append({m.key: str(m.value) for m in context.invocation_metadata() or ()})
        return pb.GetWalletResponse(wallet=pb.Wallet(wallet_id=request.wallet_id))


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, Recorder]]:
    """A TLS server (the tests' CA) answering GetWallet and recording each call's metadata."""
    recorder = Recorder()
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        recorder.get_wallet,
        request_deserializer=pb.GetWalletRequest.FromString,
        response_serializer=pb.GetWalletResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "billing.ledger.v1.LedgerService", {"GetWallet": handler}
            )
        ]
    )
    certs = dev_ca()
    port = server.add_secure_port(
        "127.0.0.1:0", ServerTls(certs.server_cert, certs.server_key).credentials()
    )
    await server.start()
    try:
        yield f"127.0.0.1:{port}", recorder
    finally:
        await server.stop(0)


async def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "billing_cli", "--json", "--timeout", "10", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_sends_the_api_key_from_its_file_as_a_bearer_token(
    recorder: tuple[str, Recorder], tmp_path: Path
) -> None:
    target, seen = recorder
    key_file = tmp_path / "admin.key"
    key_file.write_text("bk_test_0123456789\n")
    done = await _cli("--ledger", target, "--api-key-file", str(key_file), "wallets", "get", "w1")
    assert done.returncode == 0, done.stderr
    assert seen.metadata[-1]["authorization"] == "Bearer bk_test_0123456789"


async def test_the_cli_refuses_a_server_its_ca_did_not_sign(
    recorder: tuple[str, Recorder], tmp_path: Path
) -> None:
    other = devcerts.ensure(tmp_path / "other")
    target, seen = recorder
    done = await _cli("--ledger", target, "--ca-file", str(other.ca), "wallets", "get", "w1")
    assert done.returncode != 0
    assert "UNAVAILABLE" in done.stderr
    assert seen.metadata == []
