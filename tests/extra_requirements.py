"""Print the test extra of pyproject.toml, one requirement per word.

``make test`` installs what this prints, so pyproject.toml stays the one
list of test-only dependencies (Python 3.10 has no tomllib: a regex reads
the one array we need).
"""

import pathlib
import re

if __name__ == "__main__":
    text = (pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    block = re.search(r"^test\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1)
    print(" ".join(re.findall(r'"([^"]+)"', block)))
