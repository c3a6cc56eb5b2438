"""When the full-screen client rings the bell (``--bell``): a live message
to us alone (a ``pm``, sender "bob -> alice") or one naming us as a whole
word, never our own. Pure, so the rule is tested without a terminal."""

from __future__ import annotations

import re
from typing import Any

from ..render import PM_ARROW, response_kind

__all__ = ["calls_me"]


def calls_me(payload: Any, me: str | None) -> bool:
    """True when ``payload`` is a message someone else meant for ``me``."""
    if not me or response_kind(payload) not in ("message", "msg"):
        return False
    sender, content = payload.get("sender"), payload.get("content")
    if not isinstance(sender, str) or sender.split(PM_ARROW)[0].lower() == me.lower():
        return False    # our own
    if PM_ARROW in sender:
        return True
    return isinstance(content, str) and re.search(
        r"(?<![A-Za-z0-9])%s(?![A-Za-z0-9])" % re.escape(me), content, re.I) is not None
