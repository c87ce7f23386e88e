"""The CLI's one output layer: the console pair, the format enum, tables, progress, error lines.

Every command of ``gpunet-hub`` (and every plugin that wants to look the same) prints through this
module: results on :data:`out` (stdout), progress, notes and errors on :data:`err` (stderr). Errors
are one line; the library's Python argument names in them become the command's flags
(:func:`flag_message`), so each message is written once, in the library.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from functools import partial
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..errors import EnvironmentProblem, GPUNetHubError, InputError, did_you_mean

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one error, one line


class OutputFormat(str, Enum):
    """How a command prints its result."""

    table = "table"
    json = "json"
    csv = "csv"
    quiet = "quiet"


def progress_columns() -> tuple[ProgressColumn, ...]:
    """The columns every progress bar of the CLI shows: spinner, label, bar, count, elapsed time."""
    return (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def progress(*, transient: bool = True) -> Progress:
    """A progress display on stderr with :func:`progress_columns`."""
    return Progress(*progress_columns(), console=err, transient=transient)


def print_json(data: Any) -> None:
    """Writes ``data`` as indented JSON to stdout (no rich markup or wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_text(text: str) -> None:
    """Writes prepared text (JSON, CSV) to stdout unchanged."""
    sys.stdout.write(text)


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    title: str,
    *,
    key: str = "name",
    left: Iterable[str] = (),
    keep: Iterable[str] = (),
    drop_order: Sequence[str] = (),
) -> None:
    """Prints rows of a listing in ``fmt``.

    A table never cuts ``key`` nor the ``keep`` columns: when the rows do not fit the width of
    stdout (80 columns when it is piped), columns are dropped in ``drop_order`` (then from the
    right) and a line on stderr says which and how to see them. Off a terminal the table is plain
    text (no box characters, no colour).

    Args:
        rows: One mapping per row, same keys in the same order.
        fmt: table (rich, or plain text off a terminal), json, csv, or quiet (the ``key`` column).
        title: The table's title.
        key: The column ``quiet`` prints.
        left: Columns aligned left in the table (the rest are numbers, aligned right).
        keep: Columns that are never dropped (the figure the user asked for).
        drop_order: Columns to drop first when the table is too wide, least important first.
    """
    if fmt is OutputFormat.quiet:
        for row in rows:
            out.print(row[key], highlight=False, markup=False)
    elif fmt is OutputFormat.json:
        print_json(list(rows))
    elif fmt is OutputFormat.csv:
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print_text(buffer.getvalue())
    else:
        _table(rows, title, key=key, left=set(left) | {key}, keep={key, *keep}, drop_order=drop_order)


def _table(
    rows: Sequence[Mapping[str, Any]],
    title: str,
    *,
    key: str,
    left: set[str],
    keep: set[str],
    drop_order: Sequence[str],
) -> None:
    columns = list(rows[0]) if rows else [key]
    cells = [{c: _cell(row[c]) for c in columns} for row in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    boxed = out.is_terminal
    shown = fit_columns(widths, out.width, keep=keep, drop_order=drop_order, boxed=boxed)
    hidden = [c for c in columns if c not in shown]
    if not boxed:
        info(title)  # context on stderr, so stdout stays one header line and the rows
        lines = [_plain_line(shown, {c: c for c in shown}, widths, left)]
        lines += [_plain_line(shown, r, widths, left) for r in cells]
        print_text("\n".join(lines) + "\n")
    else:
        table = Table(title=title)
        for column in shown:
            essential = column in keep
            table.add_column(
                column,
                justify="left" if column in left else "right",
                no_wrap=essential,
                min_width=widths[column] if essential else None,
                overflow="fold",
            )
        for r in cells:
            table.add_row(*(r[c] for c in shown), style=None)
        out.print(table, markup=False)
    if hidden:
        info(f"{out.width} columns: not showing {', '.join(hidden)}; --format csv or json shows every column")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _plain_line(columns: Sequence[str], cells: Mapping[str, str], widths: Mapping[str, int], left: set[str]) -> str:
    parts = [cells[c].ljust(widths[c]) if c in left else cells[c].rjust(widths[c]) for c in columns]
    return "  ".join(parts).rstrip()


def fit_columns(
    widths: Mapping[str, int], width: int, *, keep: Iterable[str], drop_order: Sequence[str], boxed: bool
) -> list[str]:
    """The columns that fit in ``width`` characters, dropping the least important first.

    Args:
        widths: Column name -> widest cell (header included), in display order.
        width: Characters available.
        keep: Columns never dropped, even when they alone are wider than ``width``.
        drop_order: Columns to drop first; columns not named here go next, rightmost first.
        boxed: Whether the table has rich's box (3 characters per column plus 1) rather than
            plain text's two-space gaps.
    """
    keep = set(keep)
    shown = list(widths)
    rest = [c for c in reversed(shown) if c not in drop_order]
    candidates = [c for c in (*drop_order, *rest) if c in widths and c not in keep]

    def total(cols: Sequence[str]) -> int:
        if boxed:
            return sum(widths[c] + 3 for c in cols) + 1
        return sum(widths[c] for c in cols) + 2 * max(len(cols) - 1, 0)

    for column in candidates:
        if total(shown) <= width:
            break
        shown.remove(column)
    return shown


def print_wide(renderable: Any, width: int = 140) -> None:
    """Prints a wide table on stdout; off a terminal at ``width`` columns rather than 80."""
    (out if out.is_terminal else Console(width=width)).print(renderable)


def note(text: str) -> None:
    """A plain line on stdout (no markup, wrapped by the terminal only)."""
    out.print(text, highlight=False, soft_wrap=True, markup=False)


def warn(text: str) -> None:
    """A warning line on stderr (``text`` is shown as written: brackets are not markup)."""
    err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def info(text: str) -> None:
    """A dim context line on stderr (what was chosen and why; brackets are not markup)."""
    err.print(f"[dim]{escape(text)}[/]", highlight=False, soft_wrap=True)


def split_choices(
    text: str | None, known: Iterable[str] | None = None, *, what: str = "name", param: str | None = None
) -> tuple[str, ...]:
    """Splits a comma-separated option value, checking each name against ``known`` when given.

    Raises:
        InputError: For an unknown name, listing the known ones and close matches.
    """
    names = tuple(dict.fromkeys(n.strip() for n in (text or "").split(",") if n.strip()))
    if known is not None:
        known = list(known)
        for name in names:
            if name not in known:
                raise InputError(
                    f"unknown {what} {name!r}; known: {', '.join(known)}." + did_you_mean(name, known),
                    params=(param,) if param else (),
                )
    return names


def flag_message(exc: GPUNetHubError, flags: Mapping[str, str]) -> str:
    """The error's message with the Python argument names it declares said as the command's flags.

    ``gpu='GV100'`` becomes ``--gpu GV100``, ``gpu=`` becomes ``--gpu``, ``all_models=True`` becomes
    ``--all``, ``weights=None`` becomes ``no --weights``, and a bare name with an underscore
    (``max_latency_ms``) becomes its flag (``--max-latency-ms``); bare one-word names (``backend``)
    are ordinary words in prose and stay, except as the message's first word. Names the error does not declare in
    :attr:`~gpunet_hub.errors.GPUNetHubError.params`, or the command has no flag for, stay as they are.
    """
    text = str(exc)
    for name in exc.params:
        flag = flags.get(name)
        if flag is None:
            continue
        word = rf"(?<![\w-]){re.escape(name)}"
        text = re.sub(word + r"=(None|False)\b", f"no {flag}", text)
        text = re.sub(word + r"=True\b", flag, text)
        text = re.sub(word + r"=(['\"]?)([^'\",;)\s]*)\1", partial(_flag_value, flag), text)
        if "_" in name:
            text = re.sub(word + r"\b", flag, text)
        else:  # a message that opens with the parameter talks about it
            text = re.sub(rf"^{re.escape(name)}(?=[\s:])", flag, text)
    return text


def _flag_value(flag: str, match: re.Match[str]) -> str:
    return f"{flag} {match.group(2)}".rstrip()


def command_flags(command: Any, argv: Sequence[str]) -> dict[str, str]:
    """Python parameter name -> flag (or ARGUMENT) of the (sub)command ``argv`` invokes.

    Works on click's command tree (typer builds one), descending through groups by the command
    names in ``argv``.
    """
    for token in argv:
        commands = getattr(command, "commands", None)
        if not commands or token.startswith("-"):
            continue
        if token not in commands:
            break
        command = commands[token]
    flags: dict[str, str] = {}
    for param in getattr(command, "params", ()):
        name = getattr(param, "name", None)
        if not name:
            continue
        if getattr(param, "param_type_name", "") == "option":
            long = [o for o in param.opts if o.startswith("--")]
            flags[name] = max(long or param.opts, key=len)
        else:
            flags[name] = name.upper()
    return flags


def fail(exc: Exception, flags: Mapping[str, str] | None = None) -> int:
    """Prints one error line on stderr; returns the exit code (2: environment, 1: anything else)."""
    code = 2 if isinstance(exc, EnvironmentProblem) else 1
    message = flag_message(exc, flags or {}) if isinstance(exc, GPUNetHubError) else str(exc)
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return code


def fmt_ms(value: float | None, digits: str = ".3f") -> str:
    """A millisecond figure, or ``-`` when there is none."""
    return "-" if value is None else format(value, digits)
