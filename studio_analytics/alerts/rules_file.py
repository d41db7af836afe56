"""Edits of the user's rules file that keep every other byte as it was.

The Alerts dialog and the CLI change one ``[[rule]]`` block at a time; the comments, the
order, the other rules (even ones with mistakes) and the line endings stay as the user
wrote them. A block runs from its ``[[rule]]`` header to the next header, as
:func:`~studio_analytics.alerts.rules.parse_rules` reads it; the comment and blank lines
that end a block belong to what follows, so replacing a rule leaves them; deleting one also
deletes the comment lines touching it (right above its header, right below its last key).

A missing file is first created from :data:`~studio_analytics.alerts.rules.DEFAULT_RULES_TEXT`,
so the first edit keeps the shipped rules. Writes are atomic and private (0600).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from studio_analytics.alerts.rules import (
    DEFAULT_RULES_TEXT,
    Rule,
    guess_rule_id,
    rule_blocks,
    rule_from_table,
    rule_to_toml,
    rules_path,
)
from studio_analytics.config import config_dir
from studio_analytics.export.files import private_atomic_text
from studio_analytics.private_files import ensure_private_dir

_ENABLED = re.compile(r"^(\s*enabled\s*=\s*)(true|false)(.*)$", re.DOTALL)
_KEY_LINE = re.compile(r"^\s*[A-Za-z0-9_\"'.-]+\s*=")


@dataclass(slots=True)
class _Block:
    """One ``[[rule]]`` block split into its own lines and the trailing ones that are not."""

    rule_id: str | None
    line: int  # its header's line number
    lead: list[str]  # comment lines right above the header (part of the previous chunk)
    body: list[str]  # header .. last non-blank, non-comment line
    tail: list[str]  # blank and comment lines after it


@dataclass(slots=True)
class _RulesText:
    preamble: list[str]
    blocks: list[_Block]
    newline: str

    def render(self) -> str:
        out = list(self.preamble)
        for block in self.blocks:
            out += block.body + block.tail
        return "".join(out)


def _is_trailing(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _split_tail(lines: list[str]) -> tuple[list[str], list[str]]:
    cut = len(lines)
    while cut > 1 and _is_trailing(lines[cut - 1]):
        cut -= 1
    return lines[:cut], lines[cut:]


def _lead_of(before: list[str]) -> int:
    """How many comment lines end ``before`` with no blank line after them."""
    n = 0
    while n < len(before) and before[len(before) - 1 - n].strip().startswith("#"):
        n += 1
    return n


def _block_id(chunk: str) -> str | None:
    try:
        tables = tomllib.loads(chunk).get("rule", [])
    except tomllib.TOMLDecodeError:
        return guess_rule_id(chunk)
    if len(tables) == 1 and isinstance(tables[0].get("id"), str):
        return tables[0]["id"]
    return guess_rule_id(chunk)


def _parse(text: str) -> _RulesText:
    newline = "\r\n" if "\r\n" in text else "\n"
    preamble_text, chunks = rule_blocks(text)
    preamble = preamble_text.splitlines(keepends=True)
    blocks: list[_Block] = []
    for line, chunk in chunks:
        body, tail = _split_tail(chunk.splitlines(keepends=True))
        before = blocks[-1].tail if blocks else preamble
        lead_n = _lead_of(before)
        blocks.append(_Block(_block_id(chunk), line, before[len(before) - lead_n:] if lead_n else [], body, tail))
    return _RulesText(preamble, blocks, newline)


def _read(path: Path) -> _RulesText:
    if not path.exists():
        return _parse(DEFAULT_RULES_TEXT)
    with path.open(encoding="utf-8", newline="") as f:  # newline="": keep \r\n as written
        return _parse(f.read())


def _write(path: Path, doc: _RulesText) -> None:
    if path == rules_path():
        config_dir(create=True)
    else:
        ensure_private_dir(path.parent)
    with private_atomic_text(path) as f:
        f.write(doc.render())


def _lines(text: str, newline: str) -> list[str]:
    return [line + newline for line in text.splitlines()]


def _find(doc: _RulesText, rule_id: str) -> int:
    for i, block in enumerate(doc.blocks):
        if block.rule_id == rule_id:
            return i
    known = ", ".join(b.rule_id for b in doc.blocks if b.rule_id) or "none"
    raise ValueError(f"no rule with id {rule_id!r} in the rules file (its rules: {known})")


def _ensure_ends_with_newline(lines: list[str], newline: str) -> None:
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline


def save_rule(path: Path, rule: Rule, *, replace_id: str | None = None) -> None:
    """Add ``rule`` to the file, or replace the block of ``replace_id`` (default:
    ``rule.id``, when the file has it). ValueError when ``replace_id`` is not in the
    file, or when ``rule.id`` is already another rule's."""
    doc = _read(path)
    target = replace_id if replace_id is not None else rule.id
    try:
        index: int | None = _find(doc, target)
    except ValueError:
        if replace_id is not None:
            raise
        index = None
    for i, block in enumerate(doc.blocks):
        if block.rule_id == rule.id and i != index:
            raise ValueError(f"id {rule.id!r} is already used by the rule on line {block.line}")
    body = _lines(rule_to_toml(rule), doc.newline)
    if index is not None:
        doc.blocks[index].body = body
    else:
        if doc.blocks:
            last = doc.blocks[-1].tail if doc.blocks[-1].tail else doc.blocks[-1].body
        else:
            last = doc.preamble
        _ensure_ends_with_newline(last, doc.newline)
        if last and last[-1].strip():
            last.append(doc.newline)  # a blank line between rules
        doc.blocks.append(_Block(rule.id, 0, [], body, []))
    _write(path, doc)


def delete_rule(path: Path, rule_id: str) -> None:
    """Remove the rule's block with the comment lines right above its header and right
    below its last key; comments further away (after a blank line) stay."""
    doc = _read(path)
    index = _find(doc, rule_id)
    block = doc.blocks.pop(index)
    before = doc.blocks[index - 1].tail if index > 0 else doc.preamble
    if block.lead:
        del before[len(before) - len(block.lead):]
    kept = list(block.tail)
    while kept and kept[0].strip():  # its own closing remarks
        kept.pop(0)
    if not before or not before[-1].strip():
        while kept and not kept[0].strip():
            kept.pop(0)  # one blank line between what was around it is enough
    before.extend(kept)
    if index == len(doc.blocks):  # it was the last: no blank lines left dangling at the end
        while before and not before[-1].strip():
            before.pop()
    _write(path, doc)


def set_enabled(path: Path, rule_id: str, enabled: bool) -> None:
    """Turn the rule on or off, changing only its ``enabled`` line (added when missing)."""
    doc = _read(path)
    block = doc.blocks[_find(doc, rule_id)]
    word = "true" if enabled else "false"
    for i, line in enumerate(block.body):
        match = _ENABLED.match(line)
        if match:
            block.body[i] = f"{match.group(1)}{word}{match.group(3)}"
            break
    else:
        if enabled:
            return  # no line: on by default
        last = max(i for i, line in enumerate(block.body) if i == 0 or _KEY_LINE.match(line))
        _ensure_ends_with_newline(block.body, doc.newline)
        block.body.insert(last + 1, "enabled = false" + doc.newline)
    _check_still_a_rule(block, enabled)
    _write(path, doc)


def _check_still_a_rule(block: _Block, enabled: bool) -> None:
    """The edited block still reads as the same rule; ValueError (and nothing written) if not."""
    try:
        tables = tomllib.loads("".join(block.body)).get("rule", [])
        rule = rule_from_table(tables[0]) if len(tables) == 1 else None
    except (tomllib.TOMLDecodeError, ValueError):
        return  # it had a mistake before the edit too: the edit is still what was asked
    if rule is None or rule.enabled is not enabled:
        raise ValueError(f"could not set enabled = {str(enabled).lower()} in rule {block.rule_id!r} "
                         f"(line {block.line}); edit the file by hand")
