"""Shell completion scripts, generated from the app. ``python -m whrelay.cli.completions``
rewrites ``completions/``; a test regenerates them and fails when they drift.

The scripts call back into ``whrelay`` (``_WHRELAY_COMPLETE``), so new commands and options
complete without regenerating; what can drift is the calling convention, and the test
catches that.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHELLS = {"bash": "whrelay.bash", "zsh": "_whrelay", "fish": "whrelay.fish"}
COMPLETE_VAR = "_WHRELAY_COMPLETE"


def render(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="whrelay", complete_var=COMPLETE_VAR, shell=shell) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for shell, name in SHELLS.items():
        path = folder / name
        path.write_text(render(shell))
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("completions")
    for path in write(target):
        print(path)
