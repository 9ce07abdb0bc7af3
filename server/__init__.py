"""Floor 3: the application shell — settings root, CLI, and (later) the live call server.

``server.cli`` is the composition root: the one place allowed to import every floor,
lazily, per subcommand.
"""
