"""The full-screen client: ``app`` (curses on the client's loop), ``model``
(scrollback and status, pure), ``input_line`` (editing and keys, pure) and
``view`` (the model drawn with curses)."""
