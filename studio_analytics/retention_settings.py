"""The retention setting: ``retention.toml`` in the config folder.

```toml
older_than = "90d"              # raw rows older than this go on `db prune` ("<N>d", "<N>h" or "<N>w")
archive = "/path/to/archive"    # optional: archive each day to Parquet before it is deleted
```

Read here, below the commands and the window, so both show the same setting. A file
with a mistake is not half-applied: :attr:`RetentionSettings.problem` names the key and
what is wrong, and nothing of it is used.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from studio_analytics import config

RETENTION_FILENAME = "retention.toml"
_UNITS = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"\s*(\d{1,6})\s*([hdw])\s*", re.IGNORECASE)
_KEYS = ("older_than", "archive")


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    #: raw rows older than this many seconds are pruned; None: kept forever
    older_than_s: int | None
    #: where pruned days are archived first; None: not archived
    archive_dir: Path | None
    #: what is wrong with the file (then nothing of it is used), or None
    problem: str | None
    #: the file it came from, or "none" when there is no file
    source: str

    @property
    def summary(self) -> str:
        """One line for the window and the commands: what is in force."""
        if self.problem:
            return f"not in force: {self.problem}"
        if self.older_than_s is None:
            return "raw rows are kept forever"
        where = f", archived to {self.archive_dir}" if self.archive_dir else ""
        return f"raw rows older than {format_duration(self.older_than_s)} are pruned{where}"


def retention_path() -> Path:
    return config.config_dir() / RETENTION_FILENAME


def parse_duration(text: str) -> int:
    """``"90d"``, ``"36h"``, ``"12w"`` -> seconds (at least one hour); ValueError with a
    readable message otherwise."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90d, 36h or 12w")
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: int) -> str:
    for unit in ("w", "d", "h"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def load_retention(path: Path | None = None) -> RetentionSettings:
    """The settings of ``path`` (default: ``retention.toml`` in the config folder).
    A missing file means no retention: rows are kept forever."""
    path = retention_path() if path is None else Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RetentionSettings(None, None, None, "none")
    except (OSError, UnicodeDecodeError) as e:
        return RetentionSettings(None, None, f"{path}: cannot be read ({e})", str(path))
    except tomllib.TOMLDecodeError as e:
        return RetentionSettings(None, None, f"{path}: not valid TOML ({e})", str(path))
    return _settings(data, path)


def _settings(data: dict[str, object], path: Path) -> RetentionSettings:
    def bad(message: str) -> RetentionSettings:
        return RetentionSettings(None, None, f"{path}: {message}", str(path))

    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        return bad(f"unknown key {unknown[0]!r} (the keys are {', '.join(_KEYS)})")
    older_than_s = archive_dir = None
    if "older_than" in data:
        value = data["older_than"]
        if not isinstance(value, str):
            return bad(f"older_than must be a string like \"90d\", not {value!r}")
        try:
            older_than_s = parse_duration(value)
        except ValueError as e:
            return bad(f"older_than: {e}")
    if "archive" in data:
        value = data["archive"]
        if not isinstance(value, str) or not value.strip():
            return bad(f"archive must be a folder path, not {value!r}")
        archive_dir = Path(value).expanduser()
        if not archive_dir.is_absolute():
            return bad(f"archive must be an absolute folder path, not {value!r}")
    return RetentionSettings(older_than_s, archive_dir, None, str(path))


__all__ = ["RETENTION_FILENAME", "RetentionSettings", "format_duration", "load_retention", "parse_duration",
           "retention_path"]
