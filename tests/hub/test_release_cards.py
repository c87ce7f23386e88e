"""The release's cards come from the repository alone, through the one card writer."""

import subprocess
import sys
from pathlib import Path

from gpunet_hub.hub.cards_io import PACKAGE_INDEX, REPO_CARDS

WRITER = Path(__file__).parents[2] / "tools" / "release" / "write_cards.py"


def test_write_cards_reproduces_the_committed_cards_and_index_byte_for_byte(tmp_path):
    # No --configs: the release's architecture files ship beside the script. Run from elsewhere,
    # as from a fresh clone, into a scratch folder so the repository is never touched.
    out, index = tmp_path / "cards", tmp_path / "index.json"
    subprocess.run(
        [sys.executable, str(WRITER), "--out", str(out), "--index", str(index)], cwd=tmp_path, check=True, timeout=120
    )
    committed = sorted(p.relative_to(REPO_CARDS) for p in REPO_CARDS.rglob("*") if p.is_file())
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == committed
    for relative in committed:
        assert (out / relative).read_bytes() == (REPO_CARDS / relative).read_bytes(), (
            f"model_cards/{relative} differs from what tools/release/write_cards.py writes: run it"
        )
    assert index.read_bytes() == PACKAGE_INDEX.read_bytes()
