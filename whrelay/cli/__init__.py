"""The command-line front end (Typer). Thin: parse, call the core, render, map errors."""
