"""Reply trees for the RESP codec's tests (reactor/resp.py): the
hypothesis strategies and how to compare what a parser gives back."""

from hypothesis import strategies as st

from reactor.resp import ReplyError

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
