"""The chat clients: a line client and a full-screen one, on one loop each.

``cli`` (the command line, which picks a face), ``config`` (the settings
both faces share), ``engine`` (the connection, pacing and life cycle both
faces share), ``line`` (the line client), ``stdin_lines`` (typed lines
off the loop's stdin), ``commands`` (a typed line -> a request),
``session_view`` (what the client knows of its session), ``render`` and
``text_cells`` (responses -> safe text for a terminal) and ``fullscreen/``.
"""
