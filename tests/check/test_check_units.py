"""The checker's pure parts: response shapes, the report, the terminal text filter."""

import json

from hypothesis import given, strategies as st

from chat.check.report import Report, failed, noted, passed
from chat.check.shapes import Audit, response_problem
from chat.check.terminal import visible

text = st.text()


@given(st.sampled_from(["error", "info", "message"]), text, text, text)
def test_standard_responses_have_no_problem(kind, stamp, sender, content):
    assert response_problem({"timestamp": stamp, "sender": sender, "response": kind,
                             "content": content}) is None


def test_each_shape_problem_is_named():
    good = {"timestamp": "14:03", "sender": "server", "response": "info", "content": "hi"}
    assert "extra" in response_problem(dict(good, room="lobby"))
    assert "missing content" in response_problem({k: v for k, v in good.items()
                                                   if k != "content"})
    assert "not one of" in response_problem(dict(good, response="msg"))
    assert "not a list" in response_problem(dict(good, response="history"))
    assert "not a JSON object" in response_problem(["info"])


def test_audit_counts_non_string_timestamps_inside_history():
    audit = Audit()
    entry = {"timestamp": 1.5, "sender": "bob", "response": "message", "content": "x"}
    audit.see({"timestamp": "t", "sender": "server", "response": "history",
               "content": [json.dumps(entry)]})
    assert audit.string_history is not None
    assert audit.timestamp is not None and "1.5" in audit.timestamp.problem


@given(st.binary())
def test_visible_text_never_holds_an_escape(raw):
    assert "\x1b" not in visible(raw) and "\x9b" not in visible(raw)


@given(text, text)
def test_report_never_prints_a_control_character_from_the_peer(summary, got):
    rep = Report("server", "h:1")
    rep.add("standard", "check", failed(summary, sent=got.encode(), got=got, rule="r"))
    out = rep.as_text(color=False) + rep.as_json()
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) < 0xa0 for c in out)


def test_exit_status_counts_only_failing_groups():
    rep = Report("server", "h:1")
    rep.add("standard", "a", passed("ok"))
    rep.add("robustness", "b", failed("bad"))
    rep.add("extensions", "c", noted("none"))
    assert rep.exit_status() == 0 and rep.counts()["warn"] == 1
    rep.skip("framing", "d", "not run: server gone")
    assert rep.exit_status() == 1
    rep.fatal = "cannot connect"
    assert rep.exit_status() == 2 and "could not check" in rep.as_text()
