"""Every Python snippet of docs/environments.md's "Your own environment" runs as written."""
import os
import re

import pytest

from tests.helpers.subproc import ROOT


def _snippets():
  text = open(os.path.join(ROOT, "docs", "environments.md")).read()
  section = text[text.index("## Your own environment"):]
  return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_has_the_protocol_the_library_and_the_adapter_examples():
  assert len(_snippets()) == 3


# Snippet 1 compiles a modified Brax env: the slow tier.
@pytest.mark.parametrize("index", [0, pytest.param(1, marks=pytest.mark.slow), 2])
def test_snippet_runs(index, tmp_path, monkeypatch):
  if index == 2:
    pytest.importorskip("gymnasium")
  monkeypatch.chdir(tmp_path)  # the first writes runs/point-mass
  exec(compile(_snippets()[index], f"environments.md snippet {index}", "exec"), {})
