"""Every result-derived figure of README.md and docs/*.md is generated, not typed.

``python -m benchmarks.readme_section`` writes them from ``benchmarks/results/`` and the tests'
constants; a page that differs from what it would write fails here, naming the first line.
"""
import os
import re

from benchmarks import doc_blocks, doc_sources, readme_section


def _first_difference(have: str, want: str) -> str:
  a, b = have.splitlines(), want.splitlines()
  for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
      at = next((k for k, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
      lo = max(0, at - 30)
      return (f"line {i + 1} reads {x[lo:at + 30]!r}, the generator writes "
              f"{y[lo:at + 30]!r}")
  return f"it has {len(a)} lines, the generator writes {len(b)}"


def test_every_page_is_what_the_generator_writes():
  stale = []
  for page, want in readme_section.expected().items():
    with open(os.path.join(doc_blocks.ROOT, page)) as f:
      have = f.read()
    if have != want:
      stale.append(f"{page}: {_first_difference(have, want)}")
  assert not stale, ("stale generated figures (run `python -m benchmarks.readme_section`): "
                     + "; ".join(stale))


def test_every_block_is_used_and_says_where_it_was_measured():
  used = set()
  for page in readme_section.pages():
    with open(os.path.join(doc_blocks.ROOT, page)) as f:
      used |= {m.group(2) for m in readme_section.MARKER.finditer(f.read())}
  used |= set(re.findall(r"\{block:([\w-]+)\}", readme_section.FINDINGS))  # benchmarks.md
  assert used == set(doc_blocks.BLOCKS), set(doc_blocks.BLOCKS) ^ used
  # Blocks of measured figures name the JAX version (and with it machine and date) they ran on;
  # the HLO bytes and the preflight sample are exact counts asserted by a test on every version.
  # The claims table's cells share one caption, the block claims-where, under the table.
  exact = {"hlo-bytes", "preflight-sample", "test-tiers"}
  for name, block in doc_blocks.BLOCKS.items():
    if name not in exact and not name.startswith("claim-"):
      assert "jax" in block().lower(), f"generated block {name!r} does not say where it ran"


def test_a_block_that_opens_a_line_is_a_block_of_lines():
  # A line that starts with an HTML comment is raw HTML to Markdown: the rest of that line
  # would lose its formatting, so such a block starts on the next line.
  bad = []
  for page in readme_section.pages():
    with open(os.path.join(doc_blocks.ROOT, page)) as f:
      text = f.read()
    for m in readme_section.MARKER.finditer(text):
      opens_line = m.start() == 0 or text[m.start() - 1] == "\n"
      if opens_line and not m.group(3).startswith("\n"):
        bad.append(f"{page}: block {m.group(2)!r}")
  assert not bad, "; ".join(bad)


def test_the_preflight_sample_is_what_esjax_prints():
  # The sample in docs/cli.md is typed from a run of the default config; the code's own
  # format and comm reason must still print it (the memory line is left out: it is the host's).
  from esjax.core import comm as comm_lib  # pylint: disable=g-import-not-at-top
  from esjax.runtime import preflight  # pylint: disable=g-import-not-at-top
  want = doc_blocks.preflight_lines()
  b = doc_sources.test_constant(doc_blocks.HLO, "DEFAULT_RUN_BYTES")
  reason = comm_lib.choose("auto", (1, 2), doc_blocks.PREFLIGHT_DIRECTIONS,
                           doc_blocks.PREFLIGHT_PARAMS, 1, "cpu").reason
  plan = preflight.Plan(devices=2, processes=1, population=256, members_per_device=128,
                        num_params=doc_blocks.PREFLIGHT_PARAMS, bytes_per_generation=b,
                        fixed_bytes=0, step_bytes=0, device_bytes=None, comm=reason,
                        axis_bytes=(0, b))
  assert plan.lines()[:3] == want
