"""Pictures for the Prefect UI: a PNG inlined in a markdown artifact (the UI shows no image files).

    >>> markdown_image(b"\\x89PNG", "cost")
    '![cost](data:image/png;base64,iVBORw==)'
"""

from __future__ import annotations

import base64


def markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,…)``: the one way every chart reaches an artifact."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
