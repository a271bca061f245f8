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
    ("api_key", "key sk-ant-" + "Ab1_" * 6 + " ok"),
    ("api_key", "key ASIAABCDEFGHIJ234567 ok"),
    ("api_key", "key ghs_" + "a1B2" * 9 + " ok"),
    ("api_key", "key github_pat_" + "A1b2C3d4E5" * 3 + " ok"),
    ("api_key", "key xoxb-1234567890-abcdef ok"),
    ("api_key", "key AIzaSy" + "A1b2C3d4E5" * 3 + "xyz ok"),
    ("api_key", "key hf_" + "AbCdEfGhIj" * 3 + "kl ok"),
    ("phone", "call 415.555.0132 now"),
    ("phone", "call 415 555 0132 now"),
    ("phone", "call (415)555.0132 now"),
    ("phone", "call +1-202-555-0173 now"),
    ("ip", "host 2001:0db8:85a3:0000:0000:8a2e:0370:7334 is down"),
    ("ip", "host ::1 is down"),
    ("credit_card", "card 4111111111111111 expires"),
    ("credit_card", "card 4222-2222-2222-2 expires"),
    ("url_credentials", "see HTTPS://A.example/x?TOKEN=abcdef12 ok"),
    ("url_credentials", "see https://x.example/cb#access_token=abc123def ok"),
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
    "the key idea: compounding",
    "tokens: 1234 and secrets: none",
    "call 5550132 or 555 0132",
    "1 2 3 4 5 6 7 8 9 10 11 12 13",
    "w123 w4567 w89 w1011121314 w15",
    "sk-short and AKIA1234 and ghp_abc",
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
    msgs = [
        {"role": "user", "content": "a@b.io and c@d.io"},
        {"role": "assistant", "content": None},
    ]
    out, counts = scrub_messages(msgs)
    assert counts == {"email": 2}
    assert [m["role"] for m in out] == ["user", "assistant"] and out[1]["content"] is None


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


# The scrub skips a pattern when a cheap test proves it cannot match (no '@' for emails, fewer
# than 13 digits for cards, ...). These cases sit on the edges of those tests.

# (kind, the PII item, what the item alone becomes)
ALONE = [
    ("email", "jane.doe@mail.example.org", "[EMAIL]"),
    ("phone", "+44 20 7946 0958", "[PHONE]"),
    ("ip", "10.0.12.254", "[IP_ADDRESS]"),
    ("ip", "fe80::1", "[IP_ADDRESS]"),
    ("credit_card", "4111 1111 1111 1111", "[CREDIT_CARD]"),
    ("url_credentials", "postgres://admin:s3cret@db.internal:5432/app", "[URL_WITH_CREDENTIALS]"),
    ("api_key", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12", "[API_KEY]"),
    ("api_key", "AKIAIOSFODNN7EXAMPLE", "[API_KEY]"),
    ("api_key", "secret=hunter2hunter2", "secret=[API_KEY]"),
]


@pytest.mark.parametrize("kind,item,alone", ALONE)
def test_pii_filling_the_text_or_at_its_start_or_end_is_replaced(kind, item, alone):
    assert scrub(item) == (alone, {kind: 1})
    assert scrub(item + " is mine") == (alone + " is mine", {kind: 1})
    assert scrub("mine is " + item) == ("mine is " + alone, {kind: 1})


def test_every_type_in_one_message_each_replaced_once():
    text = (
        "mail a@b.io, call +44 20 7946 0958, host 10.0.12.254 or fe80::1, card 4111 1111 1111 1111, "
        "key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12, db postgres://u:p@h/d and secret=hunter2hunter2"
    )
    out, counts = scrub(text)
    assert out == (
        "mail [EMAIL], call [PHONE], host [IP_ADDRESS] or [IP_ADDRESS], card [CREDIT_CARD], "
        "key [API_KEY], db [URL_WITH_CREDENTIALS] and secret=[API_KEY]"
    )
    assert counts == {
        "url_credentials": 1,
        "api_key": 2,
        "email": 1,
        "credit_card": 1,
        "ip": 2,
        "phone": 1,
    }


def test_overlapping_candidates_go_to_the_first_rule():
    # an IP inside a credentials URL, a card that also has a phone's digit groups, an email-like
    # password, a key shape inside a key=value pair
    assert scrub("https://bob:pw@10.0.0.1/x") == ("[URL_WITH_CREDENTIALS]", {"url_credentials": 1})
    assert scrub("4111-1111-1111-1111") == ("[CREDIT_CARD]", {"credit_card": 1})
    assert scrub("password=mine@x.io") == ("password=[API_KEY]", {"api_key": 1})
    assert scrub("token: sk-" + "a" * 24) == ("token: [API_KEY]", {"api_key": 1})


def test_replacements_do_not_feed_later_rules():
    out, counts = scrub("token=4111111111111111 then 10.0.0.1")
    assert out == "token=[API_KEY] then [IP_ADDRESS]" and counts == {"api_key": 1, "ip": 1}


def test_non_ascii_text_is_scrubbed_by_the_same_rules():
    text = "联系我：jane@example.com 或 +86 138 0013 8000，服务器 192.168.1.20"
    assert scrub(text) == (
        "联系我：[EMAIL] 或 [PHONE]，服务器 [IP_ADDRESS]",
        {"email": 1, "ip": 1, "phone": 1},
    )
    # key names match case-insensitively, as the pattern's IGNORECASE does: KELVIN SIGN, long s
    assert scrub("Straße api_\u212aey: zq8Hn3kLp0Xw") == (
        "Straße api_\u212aey: [API_KEY]",
        {"api_key": 1},
    )
    assert scrub("\u017fecret=abcdefghijk") == ("\u017fecret=[API_KEY]", {"api_key": 1})
