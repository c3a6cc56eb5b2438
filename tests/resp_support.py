"""Reply trees for the RESP codec's tests (reactor/resp.py): the
hypothesis strategies, how to compare what a parser gives back, and how
to hold its fast paths to its general one."""

from hypothesis import strategies as st

from reactor.resp import ProtocolError, ReplyError, ReplyParser

# A simple string or error line: anything but CR and LF.
line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                    max_size=30)

scalars = st.one_of(
    line_text,
    line_text.map(ReplyError),
    st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.binary(max_size=40),
    st.none(),
)
reply_trees = st.recursive(scalars, lambda children: st.lists(children, max_size=6),
                           max_leaves=30)


def comparable(value):
    """Reply trees with errors turned into tuples (exceptions compare by identity)."""
    if isinstance(value, ReplyError):
        return ("error", str(value))
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def outcome(parser, data, cuts):
    """What each feed returned, then the error that ended the stream."""
    seen = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        try:
            seen.append(comparable(parser.feed(data[start:cut])))
        except ProtocolError as exc:
            seen.append(("ProtocolError", str(exc)))
            break
        start = cut
    return seen


def both(data, cuts, **caps):
    """The outcomes of the fast parser and of the general one, in that order."""
    return (outcome(ReplyParser(fast=True, **caps), data, cuts),
            outcome(ReplyParser(fast=False, **caps), data, cuts))
