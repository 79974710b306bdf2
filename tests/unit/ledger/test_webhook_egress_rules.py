"""The webhook egress rule (domain/egress.py) as tables: which addresses a webhook may reach, and
which URLs are refused with which reason, with and without the operator's allow-lists."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ledger_service.domain.egress import (
    ADDRESS_REFUSED,
    INSECURE_URL,
    EgressPolicy,
    address_refusal,
    parse_address,
    url_refusal,
)

NONE = EgressPolicy()
INTERNAL = EgressPolicy.parse("hooks.internal", "10.20.0.0/16, fd12::/16, 169.254.0.0/16")

# (address, why it is refused under the default policy, or None)
ADDRESSES = [
    ("8.8.8.8", None),
    ("93.184.216.34", None),
    ("2606:4700::1111", None),
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("::1", "a loopback address"),
    ("0.0.0.0", "the unspecified address"),
    ("::", "the unspecified address"),
    ("10.0.0.1", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.0.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("100.127.255.254", "a carrier-grade NAT address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("240.0.0.1", "a reserved address"),
    ("192.0.2.1", "a private address"),  # documentation range: not reachable on purpose
    ("::ffff:127.0.0.1", "a loopback address (127.0.0.1 inside an IPv6 address)"),
    ("::ffff:10.1.2.3", "a private address (10.1.2.3 inside an IPv6 address)"),
    ("::ffff:169.254.169.254", "a cloud metadata address (169.254.169.254 inside an IPv6 address)"),
    ("::127.0.0.1", "a loopback address (127.0.0.1 inside an IPv6 address)"),
    ("64:ff9b::a00:1", "a private address (10.0.0.1 inside an IPv6 address)"),
    ("2002:7f00:1::", "a loopback address (127.0.0.1 inside an IPv6 address)"),
    ("::ffff:8.8.8.8", None),
]


@pytest.mark.parametrize(("address", "why"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_which_addresses_a_webhook_may_reach(address: str, why: str | None) -> None:
    assert address_refusal(parse_address(address), NONE) == why


# (address, why it is refused when the operator allows 10.20.0.0/16, fd12::/16, 169.254.0.0/16)
ALLOWED = [
    ("10.20.3.4", None),
    ("::ffff:10.20.3.4", None),
    ("fd12::7", None),
    ("169.254.1.1", None),
    ("10.21.0.1", "a private address"),
    ("127.0.0.1", "a loopback address"),
    ("169.254.169.254", "a cloud metadata address"),  # never, whatever the allow-list says
]


@pytest.mark.parametrize(("address", "why"), ALLOWED, ids=[a for a, _ in ALLOWED])
def test_an_allowed_network_opens_its_addresses_but_never_the_metadata_service(
    address: str, why: str | None
) -> None:
    assert address_refusal(parse_address(address), INTERNAL) == why


# (policy, scheme, host, resolved addresses, reason or None)
URLS = [
    (NONE, "https", "hooks.example.com", ["93.184.216.34"], None),
    (NONE, "https", "hooks.example.com", [], None),  # does not resolve yet: checked at delivery
    (NONE, "http", "hooks.example.com", ["93.184.216.34"], INSECURE_URL),
    (NONE, "http", "93.184.216.34", ["93.184.216.34"], INSECURE_URL),
    (NONE, "https", "localhost", ["127.0.0.1", "::1"], ADDRESS_REFUSED),
    (NONE, "https", "mixed.example.com", ["93.184.216.34", "10.0.0.1"], ADDRESS_REFUSED),
    (NONE, "https", "metadata.google.internal", [], ADDRESS_REFUSED),
    (NONE, "https", "Metadata.Google.Internal.", [], ADDRESS_REFUSED),
    (NONE, "http", "127.0.0.1", ["127.0.0.1"], ADDRESS_REFUSED),  # the address says more
    (INTERNAL, "http", "hooks.internal", ["93.184.216.34"], None),
    (INTERNAL, "http", "HOOKS.internal.", ["93.184.216.34"], None),
    (INTERNAL, "http", "hooks.internal", ["10.1.0.1"], ADDRESS_REFUSED),  # http, not the address
    (INTERNAL, "http", "receiver.corp", ["10.20.0.9"], None),  # the network allows http too
    (INTERNAL, "http", "receiver.corp", ["10.20.0.9", "93.184.216.34"], INSECURE_URL),
    (INTERNAL, "http", "receiver.corp", [], INSECURE_URL),
    (INTERNAL, "https", "metadata.google.internal", ["169.254.1.1"], ADDRESS_REFUSED),
    (INTERNAL, "https", "sneaky.example.com", ["169.254.169.254"], ADDRESS_REFUSED),
]


@pytest.mark.parametrize(("policy", "scheme", "host", "addresses", "reason"), URLS)
def test_which_urls_are_refused_and_why(
    policy: EgressPolicy, scheme: str, host: str, addresses: list[str], reason: str | None
) -> None:
    refusal = url_refusal(scheme, host, [ip_address(a) for a in addresses], policy)
    assert (refusal and refusal.reason) == reason
    if refusal is not None:
        assert refusal.description  # says why, for the caller


def test_a_refusal_names_the_host_and_the_address_it_resolved_to() -> None:
    refusal = url_refusal("https", "localhost", [ip_address("127.0.0.1")], NONE)
    assert refusal is not None
    assert refusal.description.startswith("localhost resolves to 127.0.0.1, a loopback address")


@pytest.mark.parametrize(
    ("networks", "message"),
    [("10.0.0.0/33", "webhook_allow_networks"), ("not-a-network", "webhook_allow_networks")],
)
def test_a_malformed_allowed_network_names_the_setting(networks: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EgressPolicy.parse("", networks)
