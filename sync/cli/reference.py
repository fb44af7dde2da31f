"""The command-line reference (docs/cli.md), made from the commands' own help.

``python -m sync.cli.reference > docs/cli.md`` writes it again; a test fails when the file
is not what this makes, so the reference never drifts from what ``-h`` says.
"""

from __future__ import annotations

from typing import Any

import typer

WIDTH = 100
INTRO = (
    "# Command-line reference\n\n"
    "Every command's `-h`, as `sheetsync` prints it on a terminal {width} characters wide. "
    "Made by `python -m sync.cli.reference > docs/cli.md`; a test fails when this file "
    "differs from what the commands say. What the commands are for, with exit codes and "
    "the figures of a run: [commands.md](commands.md).\n"
)


def command_paths(app: typer.Typer) -> list[tuple[str, ...]]:
    """Every command a user can run, e.g. ("sync",), ("conflicts",), ("conflicts", "resolve"),
    in the order ``-h`` lists them."""

    # typer vendors click in newer releases: groups are recognised by their commands.
    def walk(command: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        if hasattr(command, "commands"):
            if prefix and command.invoke_without_command:
                found.append(prefix)
            for name, sub in command.commands.items():
                found += walk(sub, (*prefix, name))
        elif prefix:
            found.append(prefix)
        return found

    return walk(typer.main.get_command(app), ())


def help_text(app: typer.Typer, path: tuple[str, ...]) -> str:
    """What ``sheetsync PATH -h`` prints, at :data:`WIDTH` characters."""
    command: Any = typer.main.get_command(app)
    ctx = _context(command, "sheetsync", None)
    for name in path:
        command = command.commands[name]
        ctx = _context(command, name, ctx)
    return str(command.get_help(ctx))


def _context(command: Any, name: str, parent: Any) -> Any:
    # The command's own Context class: typer vendors click in newer releases, so click is
    # not imported here. click keeps two columns free on a terminal (its formatter's width
    # is the terminal's - 2).
    settings = {**command.context_settings, "terminal_width": WIDTH - 2}
    return command.context_class(command, info_name=name, parent=parent, **settings)


def reference(app: typer.Typer) -> str:
    """The whole reference: the program's help, then each command's."""
    parts = [INTRO.format(width=WIDTH)]
    for path in [(), *command_paths(app)]:
        title = " ".join(("sheetsync", *path))
        parts.append(f"## {title}\n\n```text\n{help_text(app, path).rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    from sync.cli import app

    print(reference(app), end="")
