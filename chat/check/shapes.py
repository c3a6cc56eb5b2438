"""What a server payload must look like (PROTOCOL.md section 1), checked purely.

``response_problem`` says what is wrong with one decoded payload, or None.
``Audit`` watches every payload of a server check run and remembers the
first example of each problem, so the report can show one concrete case
and a count instead of a flood.
"""

import json

from reactor.framing import FramingError

RESPONSE_KEYS = ("timestamp", "sender", "response", "content")
RESPONSE_TYPES = ("error", "info", "message", "history")
STANDARD_REQUESTS = ("login", "logout", "msg", "names", "help")
EXTENSION_REQUESTS = ("join", "leave", "rooms", "pm", "register", "password", "oper",
                      "kick", "ban", "unban", "bans", "purge")


def response_problem(value):
    """Why ``value`` is not a standard response (one short sentence), or None.

    Only the shape is judged here; the timestamp's type has its own check.
    """
    if not isinstance(value, dict):
        return "the payload is not a JSON object"
    keys = set(value)
    missing = [k for k in RESPONSE_KEYS if k not in keys]
    extra = sorted(keys - set(RESPONSE_KEYS))
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing %s" % ", ".join(missing))
        if extra:
            parts.append("extra %s" % ", ".join(extra))
        return "not exactly the four keys timestamp, sender, response, content (%s)" % (
            "; ".join(parts))
    kind = value["response"]
    if kind not in RESPONSE_TYPES:
        return "response type %s is not one of error, info, message, history" % json.dumps(kind)
    if not isinstance(value["sender"], str):
        return "sender is not a string"
    content = value["content"]
    if kind == "history":
        if not isinstance(content, list):
            return "history content is not a list"
    elif not isinstance(content, str):
        return "%s content is not a string" % kind
    return None


def history_entries(content):
    """A history's entries as objects: JSON strings are decoded (a peer
    habit the peer-compatibility check reports); anything else kept as is."""
    entries = []
    for entry in content if isinstance(content, list) else ():
        if isinstance(entry, str):
            try:
                entry = json.loads(entry)
            except ValueError:
                pass
        entries.append(entry)
    return entries


def text_of(content):
    """``content`` as searchable text (``names`` is sometimes a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(item) for item in content)
    return "" if content is None else json.dumps(content)


class Example:
    """The first payload that showed a problem, and how many did."""

    __slots__ = ("problem", "payload", "count")

    def __init__(self, problem, payload):
        self.problem = problem
        self.payload = payload
        self.count = 1


class Audit:
    """Watches every payload a server sends during a check run."""

    def __init__(self):
        self.payloads = 0
        self.shape = None             # Example of a bad shape
        self.timestamp = None         # Example of a non-string timestamp
        self.string_history = None    # Example of a history holding strings
        self.invalid_json = None      # Example of undecodable output
        self.timestamps = []          # a few timestamps seen, for the report
        self.server_senders = set()

    def see(self, value):
        """Record one decoded payload, or a ``FramingError`` from decoding."""
        if isinstance(value, FramingError):
            self.invalid_json = self._count(self.invalid_json, value.message, None)
            return
        self.payloads += 1
        problem = response_problem(value)
        if problem is not None:
            self.shape = self._count(self.shape, problem, value)
        if not isinstance(value, dict):
            return
        if "timestamp" in value:
            stamp = value["timestamp"]
            if not isinstance(stamp, str):
                self.timestamp = self._count(
                    self.timestamp, "timestamp %s is not a string" % json.dumps(stamp), value)
            elif len(self.timestamps) < 3 and stamp not in self.timestamps:
                self.timestamps.append(stamp)
        if value.get("response") in ("error", "info", "history") and isinstance(
                value.get("sender"), str):
            self.server_senders.add(value["sender"])
        if value.get("response") == "history" and isinstance(value.get("content"), list):
            strings = [e for e in value["content"] if isinstance(e, str)]
            if strings:
                self.string_history = self._count(
                    self.string_history, "history entries are JSON strings", value)
            for entry in history_entries(value["content"]):
                if isinstance(entry, dict) and "timestamp" in entry and not isinstance(
                        entry["timestamp"], str):
                    self.timestamp = self._count(
                        self.timestamp, "a history entry's timestamp %s is not a string"
                        % json.dumps(entry["timestamp"]), value)

    @staticmethod
    def _count(example, problem, payload):
        if example is None:
            return Example(problem, payload)
        example.count += 1
        return example
