"""The interactive terminal tools behind the CLI (rich lives here and in cli.py only)."""
