"""``GET /docs``: the API described from its own OpenAPI document as one plain HTML page.

FastAPI's default docs page loads Swagger UI from a CDN, which an offline machine (or a
careful one) cannot reach; this page has no script and no external URL.
"""

from __future__ import annotations

import html
from typing import Any


def render_docs(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    rows: list[str] = []
    toc: list[str] = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
            toc.append(f'<li><a href="#{_e(anchor)}"><code>{_e(method.upper())} {_e(path)}</code></a></li>')
            rows.append(_operation(anchor, method, path, op))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(info.get("title", "API"))} · API</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem;
       color: #1d2430; background: #fff; }}
code {{ font: 13px ui-monospace, monospace; }}
section {{ border-top: 1px solid #ccd; padding: .6rem 0; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }}
.m {{ font-weight: 700; text-transform: uppercase; margin-right: .5rem; }}
@media (prefers-color-scheme: dark) {{ body {{ background: #161a20; color: #e6e9ee; }} a {{ color: #8ab4ff; }}
  td, th {{ border-color: #333a45; }} }}
</style></head>
<body>
<h1>{_e(info.get("title", "API"))} <small>{_e(info.get("version", ""))}</small></h1>
<p>{_e(info.get("description", ""))}</p>
<p>The machine-readable description: <a href="/openapi.json"><code>/openapi.json</code></a>.</p>
<ul>{"".join(toc)}</ul>
{"".join(rows)}
</body></html>
"""


def _operation(anchor: str, method: str, path: str, op: dict[str, Any]) -> str:
    params = op.get("parameters", [])
    lines = []
    for p in params:
        schema = p.get("schema", {})
        kind = schema.get("type") or "/".join(s.get("type", "") for s in schema.get("anyOf", []) if s.get("type"))
        lines.append(f"<tr><td><code>{_e(p.get('name', ''))}</code></td><td>{_e(p.get('in', ''))}</td>"
                     f"<td>{_e(kind)}</td><td>{'yes' if p.get('required') else ''}</td>"
                     f"<td>{_e(p.get('description', ''))}</td></tr>")
    table = ("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>meaning</th></tr>"
             + "".join(lines) + "</table>") if lines else ""
    answers = ", ".join(f"{_e(code)} {_e(r.get('description', ''))}" for code, r in op.get("responses", {}).items())
    return (f'<section id="{_e(anchor)}"><h2><span class="m">{_e(method)}</span><code>{_e(path)}</code></h2>'
            f"<p>{_e(op.get('summary', ''))}</p><p>{_e(op.get('description', ''))}</p>{table}"
            f"<p><small>Answers: {answers}</small></p></section>")


def _e(value: Any) -> str:
    return html.escape(str(value))
