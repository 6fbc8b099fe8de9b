"""Dependencies of the routes (``Annotated`` style, as in full-stack-fastapi-template).

The routes read two objects from the app's state: the :class:`Serving` of the loaded model
(one holder: replacing it swaps the model every route uses) and the process's
:class:`Gates`, through which every blocking call runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from movierec.api.gates import Gates
from movierec.api.service import Serving


async def get_serving(request: Request) -> Serving:
    """The :class:`Serving` built by :func:`movierec.api.app.create_app`."""
    serving: Serving = request.app.state.serving
    return serving


async def get_gates(request: Request) -> Gates:
    """The model and store gates of this server process."""
    gates: Gates = request.app.state.gates
    return gates


ServingDep = Annotated[Serving, Depends(get_serving)]
GatesDep = Annotated[Gates, Depends(get_gates)]
