"""Allowed networks: the IPv4/IPv6 addresses and CIDR ranges a key may be used from.

An empty list means anywhere. Entries are kept in one written form (``192.0.2.0/24``, a single
address without its ``/32`` or ``/128``), so that the same network is never listed twice and the
narrowing rule can compare them. Like a key's other powers, the list may be narrowed later (every
new entry inside an old one) and never widened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from keys.errors import ErrorCode, ServiceError

MAX_NETWORKS = 32
FIELD = "allowed_ips"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _written(network: Network) -> str:
    return str(network.network_address) if network.num_addresses == 1 else network.with_prefixlen


def parse_network(text: str) -> Network:
    """One entry, or a ServiceError that says what is wrong with it."""
    value = str(text).strip()
    if not value:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "An allowed network is empty.", field=FIELD)
    if len(value) > 64:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR, f"“{value[:64]}…” is not an IP address or a CIDR range.", field=FIELD
        )
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"“{value}” is not an IP address or a CIDR range "
            "(e.g. 203.0.113.7, 192.0.2.0/24, 2001:db8::/32).",
            field=FIELD,
        ) from None
    raise ServiceError(
        ErrorCode.VALIDATION_ERROR,
        f"“{value}” has host bits set after the /{loose.prefixlen}: did you mean {loose.with_prefixlen}?",
        field=FIELD,
    )


def clean_networks(values: Iterable[str] | None) -> list[str]:
    """The allowed networks as stored: validated, written one way, duplicates dropped, at most 32."""
    networks: list[Network] = []
    for value in values or ():
        network = parse_network(value)
        if network not in networks:
            networks.append(network)
    if len(networks) > MAX_NETWORKS:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"{len(networks)} allowed networks given; the limit is {MAX_NETWORKS}. "
            "Combine addresses into CIDR ranges.",
            field=FIELD,
        )
    return [_written(n) for n in networks]


def split_networks(text: str) -> list[str]:
    """Entries typed into a text box: one per line, or separated by commas or spaces."""
    return [part for part in text.replace(",", " ").split() if part]


def widening(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """The entries of ``new`` that are not inside any entry of ``old``: what a change would widen.
    An empty list is anywhere, so every list narrows it and nothing widens it except itself."""
    if not old:
        return []
    if not new:
        return ["anywhere"]
    olds = [ipaddress.ip_network(o) for o in old]
    return [
        n
        for n in new
        if not any(
            (net := ipaddress.ip_network(n)).version == o.version and net.subnet_of(o)  # type: ignore[arg-type]
            for o in olds
        )
    ]


def compile_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """The stored list as network objects, for the hot path (parsed once per verified key)."""
    return tuple(ipaddress.ip_network(v) for v in values)


def address_allowed(networks: tuple[Network, ...], ip: str | None) -> bool:
    """Whether a client address is inside one of the networks (an empty tuple allows anywhere).
    An IPv4 client seen through an IPv6 socket (``::ffff:192.0.2.1``) counts as its IPv4 address."""
    if not networks:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == n.version and address in n for n in networks)
