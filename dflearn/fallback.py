"""Widgets that carry a static picture of themselves, for pages without a running kernel.

Core layer; imports no other dflearn module. A live ipywidgets control is displayed as a
``application/vnd.jupyter.widget-view+json`` output, which only a Jupyter front end with a
kernel can draw: nbviewer, a static HTML page (``dflearn site``) or a stored, untrusted notebook
show nothing useful. :class:`FallbackBox` adds a ``text/html`` rendition (a sentence and,
where there is one, the current figure as an inline PNG) to the same output; JupyterLab with a
kernel still draws the live widget, since its widget renderer ranks first.

Used by the explorers of 01 (:mod:`dflearn.widgets`), 03 (:mod:`dflearn.controls`) and 07
(:mod:`dflearn.saliency_explorer`).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt

FALLBACK_CLASS = "dflearn-static-fallback"  # the HTML class of every fallback (tests look for it)


def figure_html(fig: plt.Figure, alt: str, dpi: int = 80) -> str:
    """An ``<img>`` tag holding ``fig`` as an inline PNG. The figure is closed first: off
    pyplot's list, the inline backend neither draws it a second time nor touches it while it is
    drawn here (in JupyterLab 4.6 with ipykernel 7 that backend may flush pyplot's figures from a
    kernel subshell thread, handling widget messages, and a figure drawn by two threads at once
    comes out blank or garbled)."""
    plt.close(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def static_html(note: str, body: str = "") -> str:
    """The fallback block: ``note`` (plain text, escaped) in italics above ``body`` (HTML)."""
    return (f'<div class="{FALLBACK_CLASS}"><p><em>{html.escape(note)}</em></p>'
            f"{body}</div>")


class FallbackBox(widgets.VBox):
    """A :class:`ipywidgets.VBox` whose display also carries ``fallback()``'s HTML.

    ``fallback`` is called each time the box is displayed, so the picture shows the controls'
    state at that moment. Anything it raises propagates: a broken fallback is a bug to see.
    """

    def __init__(self, children: list[widgets.Widget], fallback: Callable[[], str],
                 **kwargs: Any) -> None:
        super().__init__(children, **kwargs)
        self.fallback = fallback

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.fallback()
        return bundle
