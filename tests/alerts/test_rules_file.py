"""Editing the rules file one rule at a time keeps every other byte: comments, order,
other rules (even broken ones), line endings."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from studio_analytics.alerts.rules import (
    DEFAULT_RULES_TEXT,
    Metric,
    Rule,
    Scope,
    When,
    parse_rules,
    rules_path,
)
from studio_analytics.alerts.rules_file import delete_rule, save_rule, set_enabled

TEXT = """\
# My rules. Keep this comment.
title = "ignored by the rules"

[[rule]]
id = "one"   # the first
metric = "failure_rate"
when = "above"
threshold = 0.5

# about rule two, kept with it
[[rule]]
id = "two"
metric = "executions"
when = "below"
threshold = 1
# a remark at its end

[[rule]]
id = "broken"
metric = "no_such_metric"
when = "above"
threshold = 1

# the end
"""


def _write(tmp_path: Path, text: str = TEXT, newline: str = "\n") -> Path:
    path = tmp_path / "alerts.toml"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def _ids(path: Path) -> list[str]:
    return [r.id for r in parse_rules(path.read_text(encoding="utf-8")).rules]


NEW = Rule(id="three", metric=Metric.P95_LATENCY, scope=Scope("agent", "WebAgent"), when=When.ABOVE,
           threshold=20_000.0, name="WebAgent is slow")


def test_adding_a_rule_appends_it_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path)
    save_rule(path, NEW)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(TEXT) and text.endswith("# the end\n\n[[rule]]\nid = \"three\"\nname = \"WebAgent is slow\"\n"
                                                   "metric = \"p95_latency\"\nscope = \"agent:WebAgent\"\nwindow = \"1h\"\n"
                                                   "when = \"above\"\nthreshold = 20000.0\nmin_sample = 10\n"
                                                   "cooldown = \"1h\"\nseverity = \"warning\"\n")
    parsed = parse_rules(text)
    assert [r.id for r in parsed.rules] == ["one", "two", "three"] and len(parsed.problems) == 1
    assert replace(parsed.get("three"), line=0) == NEW  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_replacing_a_rule_changes_only_its_block(tmp_path: Path) -> None:
    path = _write(tmp_path)
    changed = Rule(id="two", metric=Metric.EXECUTIONS, when=When.BELOW, threshold=5.0)
    save_rule(path, changed)
    text = path.read_text(encoding="utf-8")
    before, after = TEXT.split("[[rule]]\nid = \"two\"")
    assert text.startswith(before)
    assert "threshold = 5.0\nmin_sample = 10\ncooldown = \"1h\"\nseverity = \"warning\"\n# a remark at its end\n\n" \
           "[[rule]]\nid = \"broken\"" in text
    assert text.endswith(after[after.index("# a remark"):])
    assert parse_rules(text).get("two").threshold == 5.0  # type: ignore[union-attr]


def test_renaming_a_rule_through_replace_id(tmp_path: Path) -> None:
    path = _write(tmp_path)
    save_rule(path, replace(NEW, id="uno"), replace_id="one")
    assert _ids(path) == ["uno", "two"]
    with pytest.raises(ValueError, match="no rule with id 'one'"):
        save_rule(path, NEW, replace_id="one")
    with pytest.raises(ValueError, match="'two' is already used by the rule on line 17"):
        save_rule(path, replace(NEW, id="two"), replace_id="uno")


def test_a_broken_rule_can_be_replaced_by_its_id(tmp_path: Path) -> None:
    path = _write(tmp_path)
    save_rule(path, Rule(id="broken", metric=Metric.FAILURE_COUNT, when=When.ABOVE, threshold=3.0))
    parsed = parse_rules(path.read_text(encoding="utf-8"))
    assert [r.id for r in parsed.rules] == ["one", "two", "broken"] and parsed.problems == ()


def test_deleting_a_rule_takes_its_comment_and_leaves_the_others(tmp_path: Path) -> None:
    path = _write(tmp_path)
    delete_rule(path, "two")
    text = path.read_text(encoding="utf-8")
    assert "about rule two" not in text and "a remark at its end" not in text and "id = \"two\"" not in text
    assert text == TEXT.replace("# about rule two, kept with it\n", "").replace(
        TEXT[TEXT.index("[[rule]]\nid = \"two\""):TEXT.index("[[rule]]\nid = \"broken\"")], "")
    delete_rule(path, "broken")
    assert path.read_text(encoding="utf-8").endswith("threshold = 0.5\n\n# the end\n")
    delete_rule(path, "one")
    assert path.read_text(encoding="utf-8") == '# My rules. Keep this comment.\ntitle = "ignored by the rules"\n\n# the end\n'
    with pytest.raises(ValueError, match=r"no rule with id 'nope' in the rules file \(its rules: none\)"):
        delete_rule(path, "nope")


def test_set_enabled_changes_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path)
    set_enabled(path, "one", False)
    text = path.read_text(encoding="utf-8")
    assert text == TEXT.replace("threshold = 0.5\n", "threshold = 0.5\nenabled = false\n", 1)
    assert not parse_rules(text).get("one").enabled  # type: ignore[union-attr]
    set_enabled(path, "one", True)
    assert path.read_text(encoding="utf-8") == TEXT.replace("threshold = 0.5\n", "threshold = 0.5\nenabled = true\n", 1)
    set_enabled(path, "two", True)  # on already, nothing to write
    # the new line goes after the last key, before the block's trailing comment
    set_enabled(path, "two", False)
    assert "threshold = 1\nenabled = false\n# a remark at its end\n" in path.read_text(encoding="utf-8")


def test_enabled_keeps_a_comment_on_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, TEXT.replace("threshold = 0.5\n", "threshold = 0.5\nenabled = true  # for now\n"))
    set_enabled(path, "one", False)
    assert "enabled = false  # for now\n" in path.read_text(encoding="utf-8")


def test_windows_line_endings_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, newline="\r\n")
    set_enabled(path, "one", False)
    save_rule(path, NEW)
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(TEXT.replace("\n", "\r\n").split("[[rule]]")[0].encode())
    assert _ids(path) == ["one", "two", "three"]


def test_a_missing_file_starts_from_the_default_rules(isolated_home: str) -> None:
    path = rules_path()
    assert not path.exists()
    save_rule(path, NEW)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(DEFAULT_RULES_TEXT)
    assert len(parse_rules(text).rules) == len(parse_rules(DEFAULT_RULES_TEXT).rules) + 1
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_missing_file_and_an_unknown_id_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    with pytest.raises(ValueError, match="no rule with id 'nope'"):
        set_enabled(path, "nope", False)
    assert not path.exists()
    set_enabled(path, "traffic-drop", False)
    assert not parse_rules(path.read_text(encoding="utf-8")).get("traffic-drop").enabled  # type: ignore[union-attr]
