"""PII scrub: each type replaced by its placeholder and counted; look-alikes left alone."""

import pytest

from wfcore.pii import PLACEHOLDERS, luhn_ok, scrub, scrub_messages

CASES = [
    ("email", "write to jane.doe+x@mail.example.org today"),
    ("phone", "call +44 20 7946 0958 now"),
    ("phone", "call (415) 555-0132 now"),
    ("phone", "call 415-555-0132 now"),
    ("ip", "host 10.0.12.254 is down"),
    ("ip", "host 2001:db8::8a2e:370:7334 is down"),
    ("ip", "host fe80::1 is down"),
    ("credit_card", "card 4111 1111 1111 1111 expires"),
    ("credit_card", "card 5500-0000-0000-0004 expires"),
    ("url_credentials", "db at postgres://admin:s3cret@db.internal:5432/app ok"),
    ("url_credentials", "see https://api.example.com/v1/x?access_token=abcdef123456 ok"),
    ("api_key", "key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12 ok"),
    ("api_key", "key AKIAIOSFODNN7EXAMPLE ok"),
    ("api_key", "key ghp_" + "a1B2" * 9 + " ok"),
    ("api_key", 'config api_key="zq8Hn3kLp0Xw" ok'),
    ("api_key", "PASSWORD: correcthorsebattery ok"),
]


@pytest.mark.parametrize("kind,text", CASES)
def test_each_pii_type_is_replaced_by_its_placeholder_and_counted(kind, text):
    out, counts = scrub(text)
    assert counts == {kind: 1}
    assert PLACEHOLDERS[kind] in out
    assert out.split()[0] == text.split()[0] and out.split()[-1] == text.split()[-1]


NOT_PII = [
    "card 4111 1111 1111 1112 fails Luhn",
    "in 1991 there were 1234567 people",
    "version 1.2.3.4.5 and 999.1.1.1",
    "meet at 10:30:00 with std::vector",
    "plain https://example.com/page?id=5 link",
    "isbn 978-3-16-148410-0",
    "token counts: 12",
]


@pytest.mark.parametrize("text", NOT_PII)
def test_look_alikes_are_left_alone(text):
    assert scrub(text) == (text, {})


def test_disabled_types_are_not_scrubbed():
    text = "mail a@b.io or call 415-555-0132"
    out, counts = scrub(text, types=["phone"])
    assert counts == {"phone": 1} and "a@b.io" in out


def test_credentials_url_is_not_also_counted_as_email():
    out, counts = scrub("https://bob:pw@host.example.com/x")
    assert counts == {"url_credentials": 1} and "@" not in out


def test_scrub_messages_sums_counts_and_keeps_roles():
    msgs = [{"role": "user", "content": "a@b.io and c@d.io"}, {"role": "assistant", "content": None}]
    out, counts = scrub_messages(msgs)
    assert counts == {"email": 2}
    assert [m["role"] for m in out] == ["user", "assistant"] and out[1]["content"] is None


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
