"""Password hashing (scrypt): salted, verified in constant time, parameters in the hash."""

import pytest

from tidings.users import passwords


@pytest.fixture(scope="module")
def stored() -> str:
    return passwords.hash_password("correct horse battery")


def test_the_right_password_verifies_and_a_wrong_one_does_not(stored):
    assert passwords.verify_password("correct horse battery", stored)
    assert not passwords.verify_password("correct horse batterY", stored)
    assert not passwords.verify_password("", stored)


def test_the_hash_names_scrypt_and_its_parameters_and_hides_the_password(stored):
    name, log2_n, r, p, salt, key = stored.split("$")
    assert (name, int(log2_n), int(r), int(p)) == ("scrypt", 15, 8, 3)
    assert 128 * int(r) * 2 ** int(log2_n) == 32 * 1024 * 1024  # memory-hard: 32 MiB a hash
    assert "correct" not in stored and salt and key


def test_each_hash_has_its_own_salt(stored):
    again = passwords.hash_password("correct horse battery")
    assert again != stored
    assert passwords.verify_password("correct horse battery", again)


def test_hashes_with_older_parameters_still_verify_and_ask_for_a_rehash():
    cheap = passwords.hash_password("an older password", log2_n=10, r=8, p=1)
    assert passwords.verify_password("an older password", cheap)
    assert passwords.needs_rehash(cheap)
    assert not passwords.needs_rehash(passwords.hash_password("an older password"))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "bcrypt$15$8$3$AAAA$AAAA",
        "scrypt$x$8$3$AAAA$AAAA",
        "scrypt$40$8$3$AAAA$AAAA",  # absurd cost: refused, not computed
        "scrypt$15$8$3$not base64!$AAAA",
    ],
)
def test_malformed_hashes_verify_nothing(stored):
    assert not passwords.verify_password("anything at all", stored)


def test_the_dummy_hash_is_well_formed_and_matches_nothing():
    assert not passwords.needs_rehash(passwords.DUMMY_HASH)
    assert not passwords.verify_password("", passwords.DUMMY_HASH)
    assert not passwords.verify_password("correct horse battery", passwords.DUMMY_HASH)


def test_generated_passwords_are_long_and_different():
    made = {passwords.generate_password() for _ in range(20)}
    assert len(made) == 20
    assert all(len(p) >= 20 and passwords.check_new_password(p) is None for p in made)


def test_chosen_passwords_need_a_minimum_length():
    assert "at least 12" in (passwords.check_new_password("short") or "")
    assert passwords.check_new_password("x" * 12) is None
    assert "at most" in (passwords.check_new_password("x" * 2000) or "")
    assert not passwords.verify_password("x" * 2000, passwords.DUMMY_HASH)
