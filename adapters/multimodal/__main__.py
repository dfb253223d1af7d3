"""``python -m moo_multimodal``: the ``moo-mm`` command line (`moo_multimodal.cli.main`).

The module form is what ``torchrun`` starts (``torchrun --standalone --nproc-per-node=N -m
moo_multimodal train ...``); see docs/multimodal-gpus.md.
"""

from __future__ import annotations

import sys

from moo_multimodal.cli import main

if __name__ == "__main__":
    sys.exit(main())
