"""Which addresses the fetch guard refuses, and what the operator's allowlist permits."""

from __future__ import annotations

import ipaddress

import pytest

from tidings.fetch import Allowlist, FetchRefused, check_address, refusal_reason

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", ""),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("192.0.2.10", ""),  # documentation range
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 form of 127.0.0.1
    ("::7f00:1", ""),  # IPv4-compatible (deprecated) form
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "172.32.0.1",
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_refused_addresses(address: str, why: str) -> None:
    reason = refusal_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_empty_allowlist_permits_nothing() -> None:
    assert Allowlist.parse("") == Allowlist()
    assert Allowlist.parse(" , ") == Allowlist()


def test_allowlist_parses_cidrs_addresses_and_names() -> None:
    allow = Allowlist.parse("127.0.0.0/8, 10.1.2.3,fd00::/8, Files.Internal.")
    assert [str(n) for n in allow.networks] == ["127.0.0.0/8", "10.1.2.3/32", "fd00::/8"]
    assert allow.hosts == frozenset({"files.internal"})


@pytest.mark.parametrize("text", ["not a host!", "10.0.0.0/33", "http://x", "a..b"])
def test_allowlist_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="fetch allowlist"):
        Allowlist.parse(text)


ALLOW = Allowlist.parse("127.0.0.0/8,10.1.2.3,files.internal,169.254.0.0/16")


@pytest.mark.parametrize(
    ("host", "address", "permitted"),
    [
        ("localhost", "127.0.0.1", True),
        ("localhost", "::1", False),  # only the IPv4 loopback is listed
        ("x", "::ffff:127.0.0.1", True),  # the mapped form of a listed address
        ("x", "10.1.2.3", True),
        ("x", "10.1.2.4", False),
        ("files.internal", "10.9.9.9", True),  # the name permits whatever it resolves to
        ("FILES.internal.", "192.168.0.1", True),
        ("other.internal", "192.168.0.1", False),
        ("x", "169.254.1.1", True),
        # Metadata addresses need the exact address, never a range or a name:
        ("x", "169.254.169.254", False),
        ("files.internal", "169.254.169.254", False),
    ],
)
def test_allowlist_permits(host: str, address: str, permitted: bool) -> None:
    assert ALLOW.permits(host, ipaddress.ip_address(address)) is permitted


def test_metadata_address_allowed_only_by_exact_entry() -> None:
    allow = Allowlist.parse("169.254.169.254")
    assert allow.permits("x", ipaddress.ip_address("169.254.169.254"))
    assert Allowlist.parse("0.0.0.0/0").permits("x", ipaddress.ip_address("8.8.8.8"))
    assert not Allowlist.parse("0.0.0.0/0").permits("x", ipaddress.ip_address("169.254.169.254"))


def test_check_address_explains_refusal() -> None:
    with pytest.raises(FetchRefused, match=r"intranet resolves to 10\.0\.0\.1, a private address"):
        check_address("intranet", ipaddress.ip_address("10.0.0.1"), Allowlist())
    check_address("intranet", ipaddress.ip_address("10.0.0.1"), Allowlist.parse("10.0.0.0/8"))
    check_address("example.com", ipaddress.ip_address("93.184.216.34"), Allowlist())
