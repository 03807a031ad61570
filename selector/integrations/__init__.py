"""The selector inside gateways: :mod:`selector.integrations.litellm` (a routing plug-in
and a callback for ``litellm.Router``, and a pre-call hook for the LiteLLM proxy), on
the extra ``pip install "model-selector[litellm]"``. Import the module itself: this
package imports no gateway library."""

from __future__ import annotations

__all__: list[str] = []
