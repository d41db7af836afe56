"""How a model name written by an agent, an SDK or a gateway is matched to the price table.

A name is compared three ways, in this order (the first that finds an entry wins):

1. **exact**: the name as given equals an entry's name or one of its aliases;
2. **plain key**: both sides reduced by :func:`plain_key` —
   lowercase; everything up to the last ``/`` dropped (``openai/``, ``anthropic/``,
   ``models/``, ``accounts/fireworks/models/``, ``meta-llama/``, ``openrouter/x/``);
   a Bedrock id's region (``us.``, ``eu.``, ``apac.``, ``global.``…), vendor
   (``anthropic.``, ``meta.``, ``mistral.``…) and version (``-v1:0``, ``-v2:0:200k``)
   dropped; ``Meta-`` before ``Llama`` dropped; the separators ``-``, ``_``, ``.``,
   ``:`` and spaces ignored (``claude-3.5-sonnet`` = ``claude-3-5-sonnet``,
   ``gpt-35-turbo`` = ``gpt-3.5-turbo``);
3. **base key**: the plain key after also dropping, as often as they occur at the end,
   a version or date: ``@20240620`` (Vertex), ``-latest``, ``-2024-08-06``,
   ``-20241022``, four digits (``-0613``, ``-2411``: month-day or year-month), three
   digits (``-001``), and a preview's date (``-preview-05-20`` becomes ``-preview``).

Provider names are reduced the same way and mapped to one spelling
(:func:`provider_key`): ``aws.bedrock`` and ``bedrock`` are ``bedrock``,
``together_ai`` is ``together``, ``gcp.gemini`` is ``google``, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s._:\-]+")
_BEDROCK_REGION = re.compile(r"^(?:us|us-gov|eu|apac|ap|jp|au|ca|sa|global)\.")
_BEDROCK_VENDOR = re.compile(
    r"^(?:anthropic|meta|mistral|amazon|cohere|ai21|deepseek|openai|qwen|writer|moonshot|moonshotai|minimax"
    r"|twelvelabs|google|nvidia)\.")
# A Bedrock model version: "-v1:0", "-v2:0:200k" (a colon is never part of other ids'
# versions); "-v1" alone only after a Bedrock vendor prefix ("deepseek-v3" is a model).
_BEDROCK_VERSION = re.compile(r"-v\d+:\d+(?::\d+k)?$")
_BEDROCK_SHORT_VERSION = re.compile(r"-v\d+$")
_META_LLAMA = re.compile(r"^meta-(?=llama)")
#: trailing versions and dates, tried in this order until none applies
_SUFFIXES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"-latest$"), "", "suffix"),
    (re.compile(r"-\d{4}-\d{2}-\d{2}$"), "", "date"),
    (re.compile(r"-\d{8}$"), "", "date"),
    (re.compile(r"-(preview|exp)-\d{2}-\d{2,4}$"), r"-\1", "preview date"),
    (re.compile(r"-\d{4}$"), "", "dated version"),
    (re.compile(r"-\d{3}$"), "", "version number"),
)

#: provider spellings (separators removed) -> the one the price table uses
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "azure": "azure", "azureopenai": "azure", "azureaiopenai": "azure", "azureaiinference": "azure",
    "anthropic": "anthropic",
    "google": "google", "gemini": "google", "googlegenai": "google", "googleai": "google",
    "googleaistudio": "google", "googlegemini": "google", "gcpgemini": "google", "gcpgenai": "google",
    "vertex": "vertex", "vertexai": "vertex", "googlevertex": "vertex", "googlevertexai": "vertex",
    "gcpvertexai": "vertex",
    "bedrock": "bedrock", "awsbedrock": "bedrock", "aws": "bedrock", "amazon": "bedrock",
    "amazonbedrock": "bedrock", "bedrockconverse": "bedrock",
    "together": "together", "togetherai": "together", "togethercomputer": "together",
    "fireworks": "fireworks", "fireworksai": "fireworks",
    "groq": "groq",
    "mistral": "mistral", "mistralai": "mistral",
    "deepseek": "deepseek",
    "meta": "meta", "metallama": "meta",
}


@dataclass(frozen=True, slots=True)
class ModelKeys:
    """The two keys a name is compared by, and what was done to reach them (in words,
    for ``studio-analytics prices check``)."""

    plain: str
    base: str
    plain_steps: tuple[str, ...]
    base_steps: tuple[str, ...]


def model_keys(name: str) -> ModelKeys:
    steps: list[str] = []
    text = name.strip()
    if text != text.lower():
        steps.append("case ignored")
        text = text.lower()
    if "/" in text:
        prefix, text = text.rsplit("/", 1)
        steps.append(f"prefix '{prefix}/' dropped")
    bedrock = False
    for pattern in (_BEDROCK_REGION, _BEDROCK_VENDOR):
        found = pattern.match(text)
        if found:
            steps.append(f"Bedrock prefix '{found.group(0)}' dropped")
            text = text[found.end():]
            bedrock = True
    version = _BEDROCK_VERSION.search(text) or (_BEDROCK_SHORT_VERSION.search(text) if bedrock else None)
    if version:
        steps.append(f"Bedrock version '{version.group(0)}' dropped")
        text = text[:version.start()]
    meta = _META_LLAMA.match(text)
    if meta:
        steps.append("'meta-' before 'llama' dropped")
        text = text[meta.end():]
    plain = _collapse(text)
    plain_steps = [*steps, "separators ignored"] if plain != text else steps
    base_text = text
    base_steps = list(steps)
    if "@" in base_text:
        base_text, _, dropped = base_text.partition("@")
        base_steps.append(f"'@{dropped}' dropped")
    changed = True
    while changed:
        changed = False
        for pattern, replacement, what in _SUFFIXES:
            found = pattern.search(base_text)
            if found and found.start() > 0:
                base_steps.append(f"{what} '{found.group(0)}' dropped")
                base_text = base_text[:found.start()] + found.expand(replacement)
                changed = True
                break
    base = _collapse(base_text)
    if base != base_text:
        base_steps.append("separators ignored")
    return ModelKeys(plain, base, tuple(plain_steps), tuple(base_steps))


def plain_key(name: str) -> str:
    return model_keys(name).plain


def base_key(name: str) -> str:
    return model_keys(name).base


def provider_key(provider: str | None) -> str | None:
    """The price table's spelling of a provider name; None for no provider."""
    if provider is None:
        return None
    collapsed = _collapse(provider.strip().lower())
    if not collapsed:
        return None
    return _PROVIDERS.get(collapsed, collapsed)


def _collapse(text: str) -> str:
    return _SEPARATORS.sub("", text)


__all__ = ["ModelKeys", "base_key", "model_keys", "plain_key", "provider_key"]
