"""Key format: generation, parsing, checksum, digests and pepper rotation."""

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import credentials
from keys.redaction import scrub

ALPHABET = string.ascii_letters + string.digits


def test_shapes_and_prefixes():
    for env in ("live", "test"):
        secret = credentials.new_secret(env)
        client_id = credentials.new_client_id(env)
        assert secret.startswith(f"sk_{env}_") and len(secret) == 57
        assert client_id.startswith(f"ck_{env}_") and len(client_id) == 32
        assert credentials.is_well_formed_secret(secret)
        assert credentials.is_well_formed_client_id(client_id)
        assert re.fullmatch(credentials.SECRET_SCAN_PATTERN, secret)
        assert re.search(credentials.SECRET_SCAN_PATTERN, f"leaked: token={secret}; oops")


def test_at_least_256_bits_of_randomness():
    assert 62**credentials.SECRET_RANDOM_LENGTH >= 2**256
    assert len({credentials.new_secret("live") for _ in range(1000)}) == 1000


@given(st.sampled_from(["live", "test"]))
def test_generate_parse_round_trip(env):
    secret = credentials.new_secret(env)
    client_id = credentials.new_client_id(env)
    assert credentials.parse_presented(secret) == credentials.PresentedCredentials(secret=secret)
    parsed = credentials.parse_presented(f"{client_id}:{secret}")
    assert parsed.secret == secret and parsed.client_id == client_id


@settings(max_examples=300)
@given(st.data())
def test_every_single_character_change_is_rejected(data):
    secret = credentials.new_secret("live")
    position = data.draw(st.integers(0, len(secret) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + "_-:"))
    mutated = secret[:position] + replacement + secret[position + 1 :]
    if mutated != secret:
        assert not credentials.is_well_formed_secret(mutated)
        assert credentials.parse_presented(mutated) is None


def test_every_truncation_and_extension_is_rejected():
    secret = credentials.new_secret("test")
    for end in range(len(secret)):
        assert credentials.parse_presented(secret[:end]) is None
    for extra in ALPHABET:
        assert credentials.parse_presented(secret + extra) is None
        assert credentials.parse_presented(extra + secret) is None


def test_swapped_neighbours_are_rejected():
    secret = credentials.new_secret("live")
    for i in range(8, len(secret) - 1):
        swapped = secret[:i] + secret[i + 1] + secret[i] + secret[i + 2 :]
        if swapped != secret:
            assert credentials.parse_presented(swapped) is None


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text):
    assert credentials.parse_presented(text) is None or credentials.is_well_formed_secret(
        credentials.parse_presented(text).secret
    )


def test_client_id_and_secret_of_different_environments_do_not_pair():
    secret = credentials.new_secret("live")
    assert credentials.parse_presented(f"{credentials.new_client_id('test')}:{secret}") is None
    assert credentials.parse_presented(f"ck_live_short:{secret}") is None


def test_repr_never_shows_the_secret():
    secret = credentials.new_secret("live")
    assert secret not in repr(credentials.parse_presented(secret))


def test_digest_is_keyed_hmac_and_rotation_keeps_old_peppers(settings):
    settings.KEY_PEPPERS = ["pepper-new", "pepper-old"]
    secret = credentials.new_secret("live")
    new, old = credentials.peppers()
    assert credentials.current_pepper() == new
    assert new.id != old.id
    digests = [credentials.digest(secret, new), credentials.digest(secret, old)]
    assert digests[0] != digests[1]
    assert all(len(d) == 64 and secret not in d for d in digests)
    # The pepper id does not reveal the pepper.
    assert "pepper" not in new.id


@pytest.mark.parametrize("bad", ["", " ", "sk_live_", "Bearer", "a:b:c", "sk_prod_" + "a" * 49, "\x00" * 57])
def test_malformed_values(bad):
    assert credentials.parse_presented(bad) is None


SECRET_BODY = "A" * 49


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("disk_live_monitoring", False),
        ("task_test_runner_2026", False),
        ("sk_live_abcdefgh", False),  # a fragment is not a secret
        (f"sk_live_{SECRET_BODY}", True),
        (f"ERP sk_test_{SECRET_BODY}", True),
        (f"prod:sk_live_{SECRET_BODY}", True),
        (f"Authorization: Bearer%20sk_live_{SECRET_BODY}", True),  # URL-encoded after a space
        (f"sk_live_{SECRET_BODY}x", False),  # part of a longer token
    ],
)
def test_one_pattern_finds_secrets_for_every_purpose(text, found):
    """Refusing a secret as a key name or a search, and scrubbing logs, use the one pattern."""
    assert credentials.contains_secret(text) is found
    assert (scrub(text) != text) is found
    assert (re.search(credentials.SECRET_SCAN_PATTERN, text) is not None) is found
