"""What README.md, docs/*.md and the notebooks name exists: every `esjax` subcommand and flag
(against the real argparse parser), every benchmark command and its flags (against the
script's ``add_argument`` calls), every ``esjax.NAME``, every ``tests/...`` file and test
function; and every sentence that says "bitwise" or "bit for bit" names a test that compares
with ``==`` (``np.array_equal``), not a tolerance. Files are read as text and AST: no JAX
compile, no pytest collection.
"""
import ast
import functools
import glob
import json
import os
import re

from tests.helpers.subproc import ROOT

CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
TEST_REF = re.compile(r"\btests/[\w/]+\.py(?:::\w+)?")
TEST_NAME = re.compile(r"`(test_\w+)`")
ESJAX_NAME = re.compile(r"(?<![/\w])esjax\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
BITWISE = re.compile(r"bitwise|bit[- ]for[- ]bit", re.I)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NEGATED = re.compile(r"\bnot\b[^.;]{0,20}(?:bitwise|bit[- ]for[- ]bit)", re.I)


def _pages() -> list[tuple[str, str, str]]:
  """(page, prose, code) for every page: markdown prose and its code spans/blocks apart."""
  out = []
  for path in ["README.md", *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
    with open(os.path.join(ROOT, path)) as f:
      text = f.read()
    out.append((os.path.relpath(os.path.join(ROOT, path), ROOT), *_split_markdown(text)))
  for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
    with open(path) as f:
      cells = json.load(f)["cells"]
    md = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    prose, spans = _split_markdown(md)
    out.append((os.path.relpath(path, ROOT), prose, spans + "\n" + code))
  return out


def _split_markdown(text: str) -> tuple[str, str]:
  blocks = [m.group(1) for m in FENCE.finditer(text)]
  prose = FENCE.sub("", text)
  spans = [m.group(1) for m in CODE_SPAN.finditer(prose)]
  return prose, "\n".join(blocks + spans)


def _commands(code: str) -> list[list[str]]:
  """Shell commands in code text, continuation lines joined, split at && ; | and comments."""
  code = re.sub(r"\\\n\s*", " ", code)
  found = []
  for line in code.splitlines():
    line = line.split("  #")[0]
    for part in re.split(r"&&|;|\|", line):
      words = part.replace('"', " ").replace("'", " ").replace("/--", " --").split()
      while words and re.match(r"^[A-Z_]+=", words[0]):  # ENV=value prefixes
        words = words[1:]
      if words:
        found.append(words)
  return found


# --- what exists ------------------------------------------------------------------------------


@functools.cache
def _cli() -> dict[str, set[str]]:
  from esjax.cli.app import build_parser
  parser = build_parser()
  sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
  return {name: set(p._option_string_actions) for name, p in sub.choices.items()}


@functools.cache
def _script_flags(path: str) -> frozenset[str]:
  with open(os.path.join(ROOT, path)) as f:
    tree = ast.parse(f.read())
  return frozenset(a.value for n in ast.walk(tree) if isinstance(n, ast.Call)
                   and getattr(n.func, "attr", None) == "add_argument"
                   for a in n.args if isinstance(a, ast.Constant) and str(a.value).startswith("-"))


@functools.cache
def _module_names(path: str) -> frozenset[str]:
  with open(os.path.join(ROOT, path)) as f:
    tree = ast.parse(f.read())
  names = set()
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
      names.add(node.name)
    elif isinstance(node, ast.Assign):
      names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
      if any(getattr(t, "id", None) == "__all__" for t in node.targets) and isinstance(
          node.value, (ast.List, ast.Tuple)):
        names |= set(ast.literal_eval(node.value))  # lazily imported names
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
      names.add(node.target.id)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      names |= {(a.asname or a.name).split(".")[0] for a in node.names}
  if path == "esjax/__init__.py":
    import esjax
    names |= set(esjax.__all__)
  return frozenset(names)


def _esjax_name_exists(dotted: str) -> bool:
  """esjax.a.b.c: a chain of packages and modules, then a name defined in the last module
  (attributes of that name, such as a class's methods, are not followed)."""
  folder = "esjax"
  for part in dotted.split("."):
    if os.path.isdir(os.path.join(ROOT, folder, part)):
      folder = f"{folder}/{part}"
    elif os.path.exists(os.path.join(ROOT, f"{folder}/{part}.py")):
      folder = f"{folder}/{part}"
      module = f"{folder}.py"
      return True if dotted.endswith(part) else _defined(module, dotted, part)
    else:
      return part in _module_names(f"{folder}/__init__.py")
  return True


def _defined(module: str, dotted: str, last: str) -> bool:
  rest = dotted.split(last + ".", 1)[1].split(".")[0]
  return rest in _module_names(module)


@functools.cache
def _tests_index() -> dict[str, frozenset[str]]:
  out = {}
  for path in glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True):
    with open(path) as f:
      tree = ast.parse(f.read())
    out[os.path.relpath(path, ROOT)] = frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
  return out


def _compares_exactly(path: str, function: str | None) -> bool:
  """The test (with no function named: some function of the file), or a helper of the file it
  calls, asserts that two computed params (or their hash) are equal: np.array_equal /
  assert_array_equal, or ``assert a == b`` where neither side is a literal."""
  with open(os.path.join(ROOT, path)) as f:
    tree = ast.parse(f.read())
  defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
  scopes = [defs[function]] if function else list(defs.values())
  for scope in list(scopes):  # one level of the file's own helpers
    scopes += [defs[c.func.id] for c in ast.walk(scope) if isinstance(c, ast.Call)
               and isinstance(c.func, ast.Name) and c.func.id in defs]
  for node in (x for scope in scopes for x in ast.walk(scope)):
    if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
        "array_equal", "assert_array_equal"):
      sides = node.args
    elif isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and any(
        isinstance(op, ast.Eq) for op in node.test.ops):
      sides = [node.test.left, *node.test.comparators]
    else:
      continue
    literal = (ast.Constant, ast.Tuple, ast.List)
    if not any(isinstance(x, literal) for x in sides) and re.search(
        r"param|\b_?sha(256)?\b", " ".join(ast.unparse(x) for x in sides)):
      return True
  return False


# --- the checks ---------------------------------------------------------------------------------


def _check_command(words: list[str]) -> str | None:
  flags = [w.split("=")[0] for w in words if w.startswith("--") and not w[2:].isupper()]
  if words[0] == "esjax" or words[:3] == ["python", "-m", "esjax"]:
    args = words[1:] if words[0] == "esjax" else words[3:]
    if not args or args[0].startswith("-"):
      return None if set(flags) <= {"--help"} else f"`esjax {' '.join(args)}`: no subcommand"
    if args[0] not in _cli():
      return f"`esjax {args[0]}`: no such subcommand (esjax has {', '.join(sorted(_cli()))})"
    bad = [f for f in flags if f not in _cli()[args[0]]]
    return f"`esjax {args[0]}` has no flag {', '.join(bad)}" if bad else None
  script = None
  if words[:2] == ["python", "-m"] and len(words) > 2 and words[2].startswith("benchmarks."):
    script = words[2].replace(".", "/") + ".py"
  elif words[0] in ("python", "bash") and len(words) > 1 and words[1].startswith("benchmarks/"):
    script = words[1]
  if script is None:
    return None
  if not os.path.exists(os.path.join(ROOT, script)):
    return f"`{' '.join(words[:3])}`: {script} does not exist"
  if script.endswith(".py"):
    bad = [f for f in flags if f not in _script_flags(script) | {"--help"}]
    return f"{script} has no flag {', '.join(bad)}" if bad else None
  return None


def _all_flags() -> set[str]:
  scripts = glob.glob(os.path.join(ROOT, "benchmarks", "**", "*.py"), recursive=True)
  return (set().union(*_cli().values())
          | set().union(*(_script_flags(os.path.relpath(s, ROOT)) for s in scripts)))


def test_commands_and_flags_exist():
  problems = []
  known = _all_flags()
  for page, _, code in _pages():
    for words in _commands(code):
      bad = _check_command(words)
      if bad:
        problems.append(f"{page}: {bad}")
      elif words[0].startswith("--"):  # a flag named on its own: some esjax or benchmark flag
        bad = [w for w in words if w.startswith("--") and not w[2:].isupper()
               and not w.startswith("--xla_") and w.split("=")[0] not in known]
        problems += [f"{page}: `{w}` is no flag of esjax or of a benchmark script" for w in bad]
  assert not problems, "; ".join(problems)


def test_esjax_names_exist():
  problems = []
  for page, prose, code in _pages():
    for name in sorted({m.group(1) for m in ESJAX_NAME.finditer(code)}):
      if not name.endswith("py") and not _esjax_name_exists(name):
        problems.append(f"{page}: `esjax.{name}` does not exist")
  assert not problems, "; ".join(problems)


def test_test_references_exist():
  index, problems = _tests_index(), []
  every_name = frozenset().union(*index.values())
  for page, prose, code in _pages():
    for ref in sorted(set(TEST_REF.findall(prose + code))):
      path, _, function = ref.partition("::")
      if path not in index:
        problems.append(f"{page}: {path} does not exist")
      elif function and function not in index[path]:
        problems.append(f"{page}: {path} has no test {function}")
    for name in sorted(set(TEST_NAME.findall(prose))):
      if name not in every_name:
        problems.append(f"{page}: no test is named {name}")
  assert not problems, "; ".join(problems)


def _sentences(prose: str) -> list[str]:
  """Sentences of the running text; headings and table rows name things, they claim nothing."""
  prose = "\n".join(line for line in prose.splitlines() if not line.lstrip().startswith(("#", "|")))
  prose = re.sub(r"\s*\n\s*", " ", prose)
  return re.split(r"(?<=[.!?])\s+(?=[A-Z`(*])", prose)


def test_bitwise_claims_name_a_test_that_compares_with_equality():
  problems = []
  for page, prose, _ in _pages():
    for sentence in _sentences(prose):
      if not BITWISE.search(sentence) or NEGATED.search(sentence):
        continue
      refs = [r.partition("::") for r in TEST_REF.findall(sentence)]
      refs += [(path, "", name) for name in TEST_NAME.findall(sentence)
               for path, names in _tests_index().items() if name in names]
      if not refs:
        problems.append(f"{page}: names no test: {sentence[:120]!r}")
      elif not any(os.path.exists(os.path.join(ROOT, p)) and _compares_exactly(p, f or None)
                   for p, _, f in refs):
        problems.append(f"{page}: its tests compare with a tolerance, not ==: {sentence[:120]!r}")
  assert not problems, "\n".join(problems)


def test_links_to_files_of_the_repository_exist():
  problems = []
  for page, prose, _ in _pages():
    here = os.path.dirname(os.path.join(ROOT, page))
    for target in LINK.findall(prose):
      path = target.split("#")[0]
      if path and "://" not in path and not os.path.exists(os.path.join(here, path)):
        problems.append(f"{page}: the link {target} leads nowhere")
  assert not problems, "; ".join(problems)
