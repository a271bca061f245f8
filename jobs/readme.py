"""Regenerate README's config reference from the schema: `python -m jobs.readme`."""

from __future__ import annotations

import os
import re

from wfcore.config import config_reference

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def main() -> None:
    path = os.path.join(os.path.dirname(__file__), "..", "README.md")
    text = open(path, encoding="utf-8").read()
    block = f"{START}\n{config_reference()}\n{END}"
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    open(path, "w", encoding="utf-8").write(new)
    print("README config reference", "updated" if new != text else "unchanged")


if __name__ == "__main__":
    main()
