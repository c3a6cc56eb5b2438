"""Responses with string content are formatted from quoted strings
(``protocol.encode_quoted``), not through ``json.dumps``: held here to
``json.dumps`` byte for byte, for any strings (hypothesis)."""

import json

from hypothesis import given, settings, strategies as st

from chat import protocol

# lone surrogates too: the escape \ud800 in a request decodes to one
any_text = st.text(st.one_of(st.characters(), st.sampled_from(
    list('"\\/\n\r\t\x00\x7f\u2028\ud800\udfff') + ["\U0001F600"])))


def by_json(timestamp, sender, response, content):
    return json.dumps({"timestamp": timestamp, "sender": sender, "response": response,
                       "content": content}).encode("ascii") + b"\n"


@settings(max_examples=300, deadline=None)
@given(any_text, any_text, any_text, any_text)
def test_a_string_response_is_what_json_dumps_writes(timestamp, sender, response, content):
    expected = by_json(timestamp, sender, response, content)
    assert protocol.encode_response(timestamp, sender, response, content) == expected
    assert protocol.encode_quoted(timestamp, sender, response,
                                  protocol.quote(content)) == expected
    assert protocol.encoded_length(content) == len(json.dumps(content)) - 2


@settings(max_examples=50, deadline=None)
@given(st.lists(any_text, max_size=4))
def test_a_list_content_goes_through_json_dumps(content):
    assert protocol.encode_response("t", "server", "history", content) == \
        by_json("t", "server", "history", content)
