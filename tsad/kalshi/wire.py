"""The Kalshi JSON boundary in one namespace: ``from tsad.kalshi import wire``.

The codec lives in five modules, one responsibility each, and this module only re-exports
their public names (each module's ``__all__`` is the one list of them):

* `tsad.kalshi.fields` — field access whose errors name the field, and `decoder`, the one
  boundary that turns any exception raised while decoding exchange data into `ProtocolError`;
* `tsad.kalshi.payloads` — REST responses into tsad values;
* `tsad.kalshi.messages` — websocket frames into message values;
* `tsad.kalshi.request_bodies` — request bodies;
* `tsad.kalshi.error_bodies` — error bodies and batch item errors.
"""

from __future__ import annotations

from tsad.kalshi import error_bodies, fields, messages, payloads, request_bodies
from tsad.kalshi.error_bodies import *  # noqa: F403
from tsad.kalshi.fields import *  # noqa: F403
from tsad.kalshi.messages import *  # noqa: F403
from tsad.kalshi.payloads import *  # noqa: F403
from tsad.kalshi.request_bodies import *  # noqa: F403


__all__: list[str] = []
__all__ += error_bodies.__all__
__all__ += fields.__all__
__all__ += messages.__all__
__all__ += payloads.__all__
__all__ += request_bodies.__all__
