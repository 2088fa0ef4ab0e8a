"""Pictures of computation graphs: DOT text (no dependencies), Graphviz rendering, a text tree, and the HTML
explorer page.

>>> loss = ((x @ w).sigmoid() - y).pow(2).mean()
>>> grads = ag.viz.capture_grads(loss)            # loss.backward() that also keeps intermediate gradients
>>> ag.viz.save(ag.draw_graph(loss, grads=grads), "loss.svg")

Layout: ``_graph`` (the graph model) and ``_style`` (colours, labels) are shared by the two renderers,
``_draw`` (DOT, Graphviz, text) and ``explorer`` (the HTML page); ``_dot`` is DOT syntax, which both write.
"""

from ._draw import GraphvizNotFoundError, draw_graph, save, to_dot, to_text
from ._graph import Grads, capture_grads
from ._style import SCALE
from .explorer import Explorer, Recording, TrainingRecorder, explore, recording

__all__ = ["draw_graph", "to_dot", "to_text", "save", "capture_grads", "Grads", "GraphvizNotFoundError",
           "explore", "recording", "Recording", "TrainingRecorder", "Explorer", "SCALE"]
