"""Per-invocation state: global options, lazily opened channels, consoles and the call wrapper."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc
import typer
from billing.auth.v1 import api_keys_pb2_grpc
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2_grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.text import Text

from billing_cli.errors import EXIT_RPC_ERROR, UNCERTAIN, RpcFailure, decode
from billing_common.tls import channel_credentials

DEFAULT_LEDGER = "127.0.0.1:50051"
DEFAULT_RATING = "127.0.0.1:50052"
# What a development deployment (the embedded database) writes beside its data, used when
# present and nothing else is given: the CA its servers' certificates come from, the admin key.
DEV_CA_FILE = Path(".data/tls/ca.pem")
DEV_API_KEY_FILE = Path(".data/admin.key")

# UNAVAILABLE is retried with the same request (and so the same request_id): safe for every RPC.
RETRY_DELAYS_S = (0.2, 0.8)

R = TypeVar("R")


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (and tests) would otherwise be cut at 80 columns and fold ids over lines.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width, stderr=stderr, highlight=False, soft_wrap=False)


@dataclass
class State:
    ledger_target: str = DEFAULT_LEDGER
    rating_target: str = DEFAULT_RATING
    json: bool = False
    # --quiet: print only the ids of what a command made or shows (for `W=$(billing -q ...)`).
    quiet: bool = False
    timeout: float = 10.0
    # TLS: the CA that signed the servers' certificates (None: the system's trusted roots), a
    # client certificate for mutual TLS; plaintext only against a server started with it.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    plaintext: bool = False
    # Sent as `authorization: Bearer <key>` on every call (None: no credential).
    api_key: str | None = None
    out: Console = field(default_factory=lambda: _console(False))
    err: Console = field(default_factory=lambda: _console(True))
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    # --- connections -------------------------------------------------------------------------

    def _channel(self, target: str) -> grpc.Channel:
        if target not in self._channels:
            if self.plaintext:
                self._channels[target] = grpc.insecure_channel(target)
            else:
                credentials = channel_credentials(self.ca_file, self.cert_file, self.key_file)
                self._channels[target] = grpc.secure_channel(target, credentials)
        return self._channels[target]

    @property
    def ledger(self) -> ledger_pb2_grpc.LedgerServiceStub:
        return ledger_pb2_grpc.LedgerServiceStub(self._channel(self.ledger_target))

    @property
    def rating(self) -> rating_pb2_grpc.RatingServiceStub:
        return rating_pb2_grpc.RatingServiceStub(self._channel(self.rating_target))

    def api_keys(self, service: str) -> api_keys_pb2_grpc.ApiKeyServiceStub:
        """The key management service of "ledger" or "rating"."""
        target = self.ledger_target if service == "ledger" else self.rating_target
        return api_keys_pb2_grpc.ApiKeyServiceStub(self._channel(target))

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    # --- calls -------------------------------------------------------------------------------

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()

    def invoke(self, method: Callable[..., R], request: Message) -> R:
        """One RPC with the global deadline. UNAVAILABLE is retried with the very same request
        (so the same request_id: the services replay instead of applying twice)."""
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return method(request, timeout=self.timeout, metadata=self.metadata)
            except grpc.RpcError as err:
                if delay is None or err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def call(
        self,
        method: Callable[..., R],
        request: Message,
        *,
        name: str,
        request_id: str | None = None,
    ) -> R:
        """`invoke`, but a failure prints the code, reason and field violations and exits 1."""
        try:
            return self.invoke(method, request)
        except grpc.RpcError as err:
            self.fail(decode(name, err), request_id=request_id)

    def fail(self, failure: RpcFailure, *, request_id: str | None = None) -> NoReturn:
        self.print_failure(failure, request_id=request_id)
        raise typer.Exit(EXIT_RPC_ERROR)

    def print_failure(self, failure: RpcFailure, *, request_id: str | None = None) -> None:
        if self.json:
            body = {"error": failure.as_dict()}
            if request_id:
                body["error"]["request_id"] = request_id
            # One line, so scripts can read the last line of stderr (after notes and progress).
            self.err.file.write(json.dumps(body) + "\n")
            self.err.file.flush()
            return
        line = Text("error: ", style="bold red")
        line.append(f"{failure.method} failed: {failure.code}")
        if failure.reason:
            line.append(f" {failure.reason}", style="bold")
        self.err.print(line)
        if failure.message:
            self.err.print(Text(f"  {failure.message}"))
        for f, description in failure.violations:
            self.err.print(Text(f"  field {f}: {description}"))
        if failure.metadata:
            pairs = ", ".join(f"{k}={v}" for k, v in sorted(failure.metadata.items()))
            self.err.print(Text(f"  details: {pairs}"))
        if request_id and failure.code in {c.name for c in UNCERTAIN}:
            self.err.print(
                Text(
                    f"  the outcome is unknown: retry with --request-id {request_id} "
                    "(the service replays the first result instead of doing it twice)"
                )
            )

    # --- output ------------------------------------------------------------------------------

    def request_id(self, given: str | None) -> str:
        """The caller's request id, or a fresh uuid4; announced on stderr so it can be reused."""
        rid = given or str(uuid.uuid4())
        self.err.print(Text(f"request id: {rid}", style="dim"))
        return rid

    def emit(self, data: Any, render: Callable[[], None]) -> None:
        """JSON on stdout with --json, the ids alone with --quiet, otherwise what `render`
        prints."""
        if self.json:
            write_json(self.out, data)
        elif self.quiet:
            for found in ids_of(data):
                self.out.file.write(found + "\n")
            self.out.file.flush()
        else:
            render()

    def note(self, message: str) -> None:
        # Soft-wrapped: a page token or a secret in a note stays one piece to copy.
        self.err.print(Text(message, style="dim"), soft_wrap=True)


def write_json(console: Console, data: Any) -> None:
    """Coloured on a terminal; byte-for-byte plain JSON (never wrapped) when piped."""
    text = json.dumps(data, indent=2, default=str)
    if console.is_terminal:
        console.print_json(text)
    else:
        console.file.write(text + "\n")
        console.file.flush()


def ids_of(data: Any) -> list[str]:
    """The id of an object (its first `*_id` field, proto order: a wallet's wallet_id, a price's
    price_id), of the first object inside a response ({"grant": ..., "entries": ...}: the
    grant's), or of each object of a list."""
    if isinstance(data, list):
        return [found for item in data for found in ids_of(item)[:1]]
    if not isinstance(data, dict):
        return []
    for key, value in data.items():
        if key.endswith("_id") and isinstance(value, str):
            return [value]
    for value in data.values():
        if isinstance(value, dict | list) and (found := ids_of(value)):
            return found
    return []


def to_dict(message: Message) -> dict[str, Any]:
    """Proto JSON with field names as in the .proto; decimals stay strings, enums are names."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def default_file(given: Path | None, development: Path) -> Path | None:
    """The file given, else the development deployment's when it exists."""
    if given is not None:
        return given
    return development if development.exists() else None


def read_api_key(key: str | None, key_file: Path | None) -> str | None:
    """The API key given, else the first line of the key file (the development admin key's
    file when present)."""
    if key:
        return key
    path = default_file(key_file, DEV_API_KEY_FILE)
    return (path.read_text().strip() or None) if path else None


def state_of(ctx: typer.Context) -> State:
    state = ctx.find_object(State)
    if state is None:  # a subcommand app invoked on its own
        state = ctx.ensure_object(State)
    return state
