"""What a component receives when the runner calls it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Sequence

from components.config import Config


@dataclasses.dataclass(frozen=True)
class StepContext:
    """Everything a component needs; components never read globals or flags.

    Attributes:
        config: the full effective config.
        inputs: upstream step name -> its finished artifact directory.
        output_dir: an empty temporary directory to write into; the runner
            renames it to the final artifact path only when the component
            returns, so a crash leaves nothing a later run takes for finished.
        root: the run root (the pusher publishes under `root/serving`).
        beam_args: extra Beam pipeline options (`--runner=...` etc.).
    """

    config: Config
    inputs: Mapping[str, Path]
    output_dir: Path
    root: Path
    beam_args: Sequence[str] = ()
