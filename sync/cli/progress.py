"""The command line's one progress bar: on a terminal, on stderr, gone when the work is
done; nothing at all when stderr is not a terminal or the output is JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class Bar:
    """A running bar: what the work reports to it."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def step(self, label: str) -> None:
        """One step done; the bar shows ``label``."""
        self._progress.update(self._task, description=label, advance=1)

    def say(self, label: str) -> None:
        """Show ``label``, no step done."""
        self._progress.update(self._task, description=label)

    def at(self, done: int, total: int, label: str) -> None:
        """``done`` of ``total`` steps done; the bar shows ``label``."""
        self._progress.update(self._task, description=label, completed=done, total=total)


@contextmanager
def progress_bar(
    console: Console, name: str, total: int | None, *, quiet: bool = False, width: int = 24
) -> Iterator[Bar | None]:
    """A bar of ``total`` steps (None: not known yet) named ``name`` on ``console``; None
    when ``quiet`` or the console is not a terminal."""
    if quiet or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn(f"{{task.description:<{width}}}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield Bar(progress, progress.add_task(name, total=total))
