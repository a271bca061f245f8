"""PII scrub: typed placeholders for emails, phones, IPs, card numbers, credential URLs, API keys.

Rules run in a fixed order (most specific first), so a credential URL is not also counted as an
email and a card number not as a phone. Replacements contain no digits or '@', so later rules
never match a placeholder. What it does NOT catch: names, street addresses, national ids,
dates of birth, secrets without a recognisable shape or key name, phone numbers written without
separators or a '+' prefix, IPs or cards spelled out in words, and PII inside images or code
that obfuscates it. It is a regex scrub, not a NER model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDERS = {
    "url_credentials": "[URL_WITH_CREDENTIALS]",
    "api_key": "[API_KEY]",
    "email": "[EMAIL]",
    "credit_card": "[CREDIT_CARD]",
    "ip": "[IP_ADDRESS]",
    "phone": "[PHONE]",
}
TYPES = tuple(PLACEHOLDERS)

_URL_CRED = re.compile(
    r"\b[a-z][a-z0-9+.-]*://"
    r"(?:[^\s/@:]+:[^\s/@]+@[^\s]+"  # user:password@host
    r"|[^\s?#]+[?#][^\s]*?\b(?:token|access_token|api_key|apikey|key|secret|password|sig|signature|auth)=[^\s&#]+[^\s]*)",
    re.IGNORECASE,
)
_API_KEYS = [
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
]
# key=value / key: "value" where the key name says secret; only the value is replaced.
_GENERIC_KEY = re.compile(
    r"(?P<key>\b[\w.-]*(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?key|auth[_-]?token|access[_-]?token|token|password|passwd)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;]{8,})",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.]*\d)")
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(
    r"(?<![\w:])(?:"
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{1,7}}:"
    rf"|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}"
    rf"|::(?:{_H}:){{0,5}}{_H}"
    r")(?![\w:])"
)
# +CC with separators, or (NNN) NNN-NNNN / NNN-NNN-NNNN / NNN.NNN.NNNN and similar.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r"|\d{3} \d{3} \d{4}"
    r")(?!\w)"
)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _sub(pattern: re.Pattern, text: str, placeholder: str, accept=None) -> tuple[str, int]:
    n = 0

    def repl(m: re.Match) -> str:
        nonlocal n
        if accept is not None and not accept(m):
            return m.group(0)
        n += 1
        return placeholder

    return pattern.sub(repl, text), n


def _card_ok(m: re.Match) -> bool:
    d = _digits(m.group(0))
    return 13 <= len(d) <= 19 and luhn_ok(d)


def _phone_ok(m: re.Match) -> bool:
    return 7 <= len(_digits(m.group(0))) <= 15


def scrub(text: str | None, types: Iterable[str] = TYPES) -> tuple[str | None, dict[str, int]]:
    """``text`` with PII replaced by typed placeholders, and the number replaced per type."""
    counts: dict[str, int] = {}
    if not text:
        return text, counts
    enabled = set(types)
    for kind in TYPES:
        if kind not in enabled:
            continue
        ph = PLACEHOLDERS[kind]
        n = 0
        if kind == "url_credentials":
            text, n = _sub(_URL_CRED, text, ph)
        elif kind == "api_key":
            for pat in _API_KEYS:
                text, k = _sub(pat, text, ph)
                n += k
            k = 0

            def generic(m: re.Match) -> str:
                nonlocal k
                if m.group("value").startswith("["):
                    return m.group(0)
                k += 1
                return m.group("key") + PLACEHOLDERS["api_key"]

            text = _GENERIC_KEY.sub(generic, text)
            n += k
        elif kind == "email":
            text, n = _sub(_EMAIL, text, ph)
        elif kind == "credit_card":
            text, n = _sub(_CARD, text, ph, _card_ok)
        elif kind == "ip":
            text, n4 = _sub(_IPV4, text, ph)
            text, n6 = _sub(_IPV6, text, ph, lambda m: m.group(0).count(":") >= 2 and any(c.isdigit() for c in m.group(0)))
            n = n4 + n6
        elif kind == "phone":
            text, n = _sub(_PHONE, text, ph, _phone_ok)
        if n:
            counts[kind] = counts.get(kind, 0) + n
    return text, counts


def scrub_messages(messages: list[dict], types: Iterable[str] = TYPES) -> tuple[list[dict], dict[str, int]]:
    """Scrub every message's content; returns new messages and summed counts per type."""
    types = tuple(types)
    out, total = [], {}
    for m in messages:
        content, counts = scrub(m.get("content"), types)
        out.append({"role": m.get("role"), "content": content})
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return out, total
