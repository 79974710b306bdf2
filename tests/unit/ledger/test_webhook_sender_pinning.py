"""The deliverer's request goes to the checked address: the URL's host is replaced by it (IPv6 in
brackets, port and credentials kept) and the original host goes in the Host header."""

from __future__ import annotations

import pytest

from ledger_service.adapters.http.webhook_sender import pinned


@pytest.mark.parametrize(
    ("url", "address", "target", "host"),
    [
        ("https://hooks.test/x?y=1", "93.184.216.34", "https://93.184.216.34/x?y=1", "hooks.test"),
        (
            "https://hooks.test:8443/x",
            "2606:4700::1",
            "https://[2606:4700::1]:8443/x",
            "hooks.test:8443",
        ),
        ("https://u:p@hooks.test/x", "93.184.216.34", "https://u:p@93.184.216.34/x", "hooks.test"),
    ],
)
def test_a_request_is_pinned_to_the_checked_address(
    url: str, address: str, target: str, host: str
) -> None:
    assert pinned(url, address) == (target, host)
