"""The lineage page's picture: an SVG drawn on the server from the lineage twin's layered nodes and edges.

Layers run left to right (roots first), each node is a link to its version, edges are curves from parent to
child. Every text is escaped; the drawing holds no script.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

NODE_W, NODE_H = 200, 48
GAP_X, GAP_Y = 70, 22
MARGIN = 12


def _position(node: dict[str, Any]) -> tuple[int, int]:
    return (MARGIN + int(node["layer"]) * (NODE_W + GAP_X), MARGIN + int(node["row"]) * (NODE_H + GAP_Y))


def _clip(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def draw(lineage: dict[str, Any]) -> str:
    """The SVG of a lineage twin body."""
    nodes = {n["id"]: n for n in lineage["nodes"]}
    width = MARGIN * 2 + (max((n["layer"] for n in nodes.values()), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = MARGIN * 2 + (max((n["row"] for n in nodes.values()), default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="lineage-title">',
             f'<title id="lineage-title">Lineage of {escape(lineage["version"])}: {len(nodes)} versions, '
             f'{len(lineage["edges"])} links</title>']
    for edge in lineage["edges"]:
        if edge["parent"] not in nodes or edge["child"] not in nodes:
            continue
        (x1, y1), (x2, y2) = _position(nodes[edge["parent"]]), _position(nodes[edge["child"]])
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
        middle = (x1 + x2) // 2
        parts.append(f'<path class="edge" d="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}" />')
    for node in nodes.values():
        x, y = _position(node)
        css = "node current" if node.get("current") else "node"
        if not node.get("visible"):
            parts.append(f'<g class="node hidden"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
                         f'<text x="{x + 10}" y="{y + 28}">a version you may not see</text></g>')
            continue
        label = _clip(f'{node["name"]} v{node["version"]}')
        detail = f'{node["id"][:12]} \u00b7 {"archived" if node.get("archived") else node["status"]}'
        href = quoteattr(f'/versions/{quote(node["id"], safe="")}')
        parts.append(f'<a href={href} class="{css}"><title>{escape(node["project"])}/{escape(node["name"])} '
                     f'v{escape(node["version"])} ({escape(node["id"])})</title>'
                     f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
                     f'<text x="{x + 10}" y="{y + 20}" class="label">{escape(label)}</text>'
                     f'<text x="{x + 10}" y="{y + 38}" class="detail">{escape(detail)}</text></a>')
    parts.append("</svg>")
    return "".join(parts)
