"""Webhook egress policy: which URLs and addresses a webhook may be sent to.

A webhook URL is chosen by a caller, and the ledger runs inside an operator's network: without a
rule, an endpoint on 127.0.0.1, a private address or the cloud metadata service would let a caller
reach what only the ledger can (and the delivery log would tell them which ports answer). So a
webhook goes to public addresses only, over https, unless the operator allows an internal receiver
on purpose (`webhook_allow_http_hosts`, `webhook_allow_networks`). The rule is applied to the
addresses a name resolves to, at creation and again at every delivery, and the deliverer connects to
the address it checked (no second lookup, so a name that starts resolving elsewhere cannot slip
through).

Pure functions of their arguments; resolving names is the app layer's business (a port).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Refused whatever the allow-lists say: a metadata service hands out the host's cloud credentials.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    {
        ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        ip_address("169.254.170.2"),  # AWS ECS task credentials
        ip_address("fd00:ec2::254"),  # AWS over IPv6
        ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)

CGNAT = ip_network("100.64.0.0/10")
NAT64 = (ip_network("64:ff9b::/96"), ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ip_network("::/96")

# The reasons a caller sees (ErrorInfo), and the coarse class a delivery log records.
INSECURE_URL = "INSECURE_WEBHOOK_URL"
ADDRESS_REFUSED = "WEBHOOK_ADDRESS_REFUSED"
REFUSED_BY_POLICY = "refused by egress policy"


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What the operator allows beyond public https receivers: plain http to the named hosts,
    and plain http plus any (non-metadata) address inside the listed networks."""

    allow_http_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, http_hosts: str, networks: str) -> EgressPolicy:
        """From the comma-separated settings; ValueError naming the setting."""
        allowed: list[IPNetwork] = []
        for item in _items(networks):
            try:
                allowed.append(ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"webhook_allow_networks: {item!r} is not a network (e.g. 10.1.0.0/16)"
                ) from exc
        return cls(frozenset(normal_host(h) for h in _items(http_hosts)), tuple(allowed))

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allow_networks)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # INSECURE_URL or ADDRESS_REFUSED
    description: str


def _items(text: str) -> Iterable[str]:
    return (item.strip() for item in text.split(",") if item.strip())


def normal_host(host: str) -> str:
    """Lower case, without brackets or the root's trailing dot (`Metadata.Google.Internal.`)."""
    return host.strip().strip("[]").rstrip(".").lower()


def parse_address(text: str) -> IPAddress:
    """An address as a resolver returns it (an IPv6 zone such as `%eth0` is dropped)."""
    return ip_address(text.split("%", 1)[0])


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4), if any: those
    reach the IPv4 address, so the IPv4 rule applies to them."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in IPV4_COMPATIBLE or any(address in n for n in NAT64):
        low = IPv4Address(int(address) & 0xFFFFFFFF)
        # ::, ::1 are IPv6's own unspecified and loopback addresses, judged as such.
        return low if address in NAT64 or int(address) > 1 else None
    return None


def address_refusal(address: IPAddress, policy: EgressPolicy) -> str | None:
    """Why a webhook may not connect to `address` (a short phrase), or None if it may."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if policy.allows_address(address):
        return None
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            why = address_refusal(inner, policy)
            return None if why is None else f"{why} ({inner} inside an IPv6 address)"
    checks = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in CGNAT, "a carrier-grade NAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for holds, why in checks if holds), None)


def url_refusal(
    scheme: str, host: str, addresses: Sequence[IPAddress], policy: EgressPolicy
) -> Refusal | None:
    """Why a webhook to `scheme://host` that resolved to `addresses` may not be sent, or None.
    Every address must pass (a name that resolves to one public and one private address is
    refused: which one a client picks is not ours to guess)."""
    name = normal_host(host)
    if name in METADATA_HOSTS:
        return Refusal(ADDRESS_REFUSED, f"{name} is a cloud metadata service")
    for address in addresses:
        why = address_refusal(address, policy)
        if why is not None:
            shown = f"{name} is" if name == str(address) else f"{name} resolves to {address},"
            return Refusal(ADDRESS_REFUSED, f"{shown} {why}; webhooks go to public addresses")
    if scheme == "http":
        allowed = name in policy.allow_http_hosts or (
            bool(addresses) and all(policy.allows_address(a) for a in addresses)
        )
        if not allowed:
            return Refusal(
                INSECURE_URL,
                "must be https (http only to hosts in webhook_allow_http_hosts or addresses in "
                "webhook_allow_networks)",
            )
    return None
