"""Allowed networks: parsing with clear errors, one written form, the limit, narrowing, matching."""

import pytest

from keys.errors import ServiceError
from keys.networks import (
    MAX_NETWORKS,
    address_allowed,
    clean_networks,
    compile_networks,
    split_networks,
    widening,
)


def test_addresses_and_ranges_are_kept_in_one_written_form():
    assert clean_networks(
        [" 203.0.113.7 ", "192.0.2.0/24", "203.0.113.7/32", "2001:DB8::/32", "2001:db8::1/128"]
    ) == ["203.0.113.7", "192.0.2.0/24", "2001:db8::/32", "2001:db8::1"]


@pytest.mark.parametrize(
    "given, says",
    [
        ("example.com", "not an IP address or a CIDR range"),
        ("300.1.1.1", "not an IP address or a CIDR range"),
        ("192.0.2.0/33", "not an IP address or a CIDR range"),
        ("", "empty"),
        ("192.0.2.1/24", "did you mean 192.0.2.0/24"),
        ("2001:db8::1/32", "did you mean 2001:db8::/32"),
        ("x" * 500, "not an IP address"),
    ],
)
def test_each_bad_entry_is_named_in_the_error(given, says):
    with pytest.raises(ServiceError) as refused:
        clean_networks(["192.0.2.0/24", given])
    assert refused.value.code == "validation_error"
    assert refused.value.field == "allowed_ips"
    assert says in refused.value.message
    assert len(refused.value.message) < 200


def test_at_most_32_networks():
    assert len(clean_networks([f"10.0.{i}.0/24" for i in range(MAX_NETWORKS)])) == MAX_NETWORKS
    with pytest.raises(ServiceError, match="33 allowed networks given; the limit is 32"):
        clean_networks([f"10.0.{i}.0/24" for i in range(MAX_NETWORKS + 1)])
    # Duplicates do not count twice.
    assert clean_networks(["10.0.0.1"] * 40) == ["10.0.0.1"]


def test_text_box_entries_split_on_lines_commas_and_spaces():
    assert split_networks("192.0.2.0/24,\n 2001:db8::/32  203.0.113.7\r\n") == [
        "192.0.2.0/24",
        "2001:db8::/32",
        "203.0.113.7",
    ]


@pytest.mark.parametrize(
    "old, new, widened",
    [
        ([], ["192.0.2.0/24"], []),  # anywhere → a network: narrower
        ([], [], []),
        (["192.0.2.0/24"], ["192.0.2.0/25", "192.0.2.200"], []),
        (["192.0.2.0/24"], ["192.0.2.0/24"], []),
        (["192.0.2.0/24"], ["192.0.0.0/16"], ["192.0.0.0/16"]),
        (["192.0.2.0/24"], ["198.51.100.7"], ["198.51.100.7"]),
        (["192.0.2.0/24"], [], ["anywhere"]),
        (["192.0.2.0/24", "2001:db8::/32"], ["2001:db8:1::/48", "192.0.2.9"], []),
        (["2001:db8::/32"], ["192.0.2.9"], ["192.0.2.9"]),  # another family is outside
    ],
)
def test_narrowing_only(old, new, widened):
    assert widening(old, new) == widened


@pytest.mark.parametrize(
    "ip, allowed",
    [
        ("192.0.2.77", True),
        ("192.0.3.1", False),
        ("2001:db8:ffff::1", True),
        ("2001:db9::1", False),
        ("::ffff:192.0.2.5", True),  # an IPv4 client on an IPv6 socket
        (None, False),
        ("not an address", False),
    ],
)
def test_matching_a_client_address(ip, allowed):
    networks = compile_networks(["192.0.2.0/24", "2001:db8::/32"])
    assert address_allowed(networks, ip) is allowed


def test_no_list_allows_anywhere():
    assert address_allowed((), "198.51.100.1") and address_allowed((), None)
