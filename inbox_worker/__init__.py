"""Mail in: fetch -> parse -> classify -> thread -> route -> apply -> mark.

Each stage is its own module; its docstring says what goes in, what comes out and
what it never does. Only `apply` writes to the database; only `fetch` talks to the
mail server.
"""
