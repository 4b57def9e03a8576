"""Human-readable tables by default, JSON (the API's shapes) with --json."""

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal


def _default(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(data) -> str:
    return json.dumps(data, default=_default, indent=2)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """`columns`: (heading, key) pairs. Columns are as wide as their widest cell."""
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(heading), *(len(r[i]) for r in cells)) for i, (heading, _) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def fields(row: dict, keys: list[str]) -> str:
    """One record as `key: value` lines (show commands)."""
    width = max(len(k) for k in keys)
    return "\n".join(f"{k.ljust(width)}  {_cell(row.get(k))}" for k in keys)


def progress_bar(percent: int, width: int = 30) -> str:
    percent = max(0, min(100, percent))
    done = width * percent // 100
    return "[" + "#" * done + "." * (width - done) + f"] {percent:3d}%"
