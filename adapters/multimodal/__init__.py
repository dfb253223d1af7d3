"""moo_multimodal: the multimodal (sensor-fusion) adapter of moo.

This package is a placeholder: it installs under the import name ``moo_multimodal`` (mapped
from ``adapters/multimodal/`` in the project's ``pyproject.toml``) and will bind moo's update
rules to PyTorch encoders for balanced multimodal training. It exposes no API yet.
"""

__all__: list[str] = []
