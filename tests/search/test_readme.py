"""tools/search/README.md's stage-2 snippet runs as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

README = Path(__file__).parents[2] / "tools" / "search" / "README.md"


def test_stage2_snippet_runs(capsys):
    text = README.read_text(encoding="utf-8")
    snippet = text.split("## Stage 2", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(snippet, str(README), "exec"), namespace)  # the reader's copy-paste, unchanged
    searcher = namespace["searcher"]
    assert searcher.n_observations == 24 and len(namespace["state"]["observations"]["values"]) == 24
    vector, value = searcher.best()
    assert namespace["in_tier"](np.array([vector]))[0]
    assert str(value) in capsys.readouterr().out
