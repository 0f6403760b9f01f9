"""Run-directory safety: version field, compilation cache, coordinator warning, output
directories that cannot hold a run or already hold one, a resume's budget (cheap, in
process) -- issue 13. Disk and directory faults and run locks are in test_faults.py."""
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.cli import main
from esjax.cli.app import build_parser
from esjax.core import multihost
from esjax.runtime import compile_cache
from esjax.rundir import files as run_io
from esjax.envs import spaces
from esjax.problems.interface import action_view, obs_view

from tests.helpers import bb_run

from tests.helpers.subproc import ROOT


# ---- esjax_version in config.json and params.msgpack ----

@pytest.fixture
def saved(tmp_path):
  from esjax.policies import make_policy
  from esjax.problems import normalizer
  config = esjax.TrainConfig.of(hidden_sizes=(8, 8))
  _, flat = make_policy("mlp", 11, 3, (8, 8), "tanh", None)
  run_io.write_config(str(tmp_path), config)
  run_io.save_params(str(tmp_path), flat, normalizer.init(11), obs_view(spaces.Box((11,))),
                     action_view(spaces.Box((3,))))
  return tmp_path


def test_run_files_carry_the_version(saved):
  config = json.loads((saved / "config.json").read_text())
  assert config["esjax_version"] == esjax.__version__
  assert set(config) == {"esjax_version", "problem", "policy", "strategy", "runtime"}
  assert run_io.read_config(str(saved)).policy.hidden_sizes == (8, 8)
  import flax.serialization
  payload = flax.serialization.msgpack_restore((saved / "params.msgpack").read_bytes())
  assert payload["esjax_version"] == esjax.__version__
  assert esjax.load(str(saved)).flat_params.shape[0] > 0


def _set_version(path, version):
  data = json.loads(path.read_text())
  data["esjax_version"] = version
  path.write_text(json.dumps(data))


def test_config_from_a_future_version_is_one_line_naming_both(saved, capsys):
  _set_version(saved / "config.json", "9.0.0")
  with pytest.raises(esjax.ConfigError) as e:
    esjax.load(str(saved))
  msg = str(e.value)
  print(msg)
  assert "\n" not in msg and "esjax 9.0.0" in msg and "esjax 0.2.0" in msg
  assert "config.json" in msg
  assert main(["train", "--resume", str(saved), "--quiet"]) == 2  # --resume: same line
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "esjax 9.0.0" in err and "esjax 0.2.0" in err


def test_params_from_a_future_version(saved):
  import flax.serialization
  path = saved / "params.msgpack"
  payload = flax.serialization.msgpack_restore(path.read_bytes())
  payload["esjax_version"] = "0.3.0"
  path.write_bytes(flax.serialization.msgpack_serialize(payload))
  with pytest.raises(esjax.ConfigError, match=r"params.msgpack.*esjax 0\.3\.0.*esjax 0\.2\.0"):
    esjax.load(str(saved))


def test_older_and_patch_versions_load(saved):
  _set_version(saved / "config.json", "0.2.9")  # a later patch release: same layout
  assert esjax.load(str(saved)).config.policy.hidden_sizes == (8, 8)
  # An esjax 0.1.0 run: flat keys, no version field.
  (saved / "config.json").write_text(json.dumps(
      {"env": "hopper", "hidden_sizes": [8, 8], "population_size": 8, "sigma": 0.02}))
  run = esjax.load(str(saved))
  assert run.config.policy.hidden_sizes == (8, 8) and run.config.strategy.population_size == 8


def test_garbled_version_is_refused(saved):
  _set_version(saved / "config.json", "banana")
  with pytest.raises(esjax.ConfigError, match="written by esjax banana"):
    run_io.read_config(str(saved))


# ---- the persistent compilation cache ----

def test_cache_directory_resolution(tmp_path, monkeypatch):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert compile_cache.resolve(True) == str(tmp_path / "xdg" / "esjax" / "jax-compile")
  monkeypatch.delenv("XDG_CACHE_HOME")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert compile_cache.resolve(True) == str(tmp_path / "home" / ".cache" / "esjax" /
                                            "jax-compile")
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jaxenv"))
  assert compile_cache.resolve(True) == str(tmp_path / "jaxenv")  # JAX's variable wins
  assert compile_cache.resolve(str(tmp_path / "mine")) == str(tmp_path / "mine")  # a flag wins
  assert compile_cache.resolve(None) is None and compile_cache.resolve(False) is None
  with pytest.raises(TypeError):
    compile_cache.resolve(3)


def test_cli_cache_flags():
  p = build_parser()
  assert p.parse_args(["train"]).compile_cache is None  # -> True: the default location
  assert p.parse_args(["train", "--no-compile-cache"]).compile_cache is False
  assert p.parse_args(["train", "--compile-cache", "/c"]).compile_cache == "/c"


def _bb_subprocess(out, cache):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_COMPILATION_CACHE_DIR=str(cache))
  script = os.path.join(ROOT, "tests", "helpers", "bb_run.py")
  return subprocess.run([sys.executable, script, str(out),
                         "fresh", "4", "2"], capture_output=True, text=True, env=env, timeout=300)


def _warnings(stderr):
  return [l for l in stderr.splitlines() if "compilation cache" in l]


@pytest.mark.slow
def test_cache_fills_then_garbage_entries_warn_once_and_compile(tmp_path):
  cache = tmp_path / "cache"
  first = _bb_subprocess(tmp_path / "a", cache)
  assert first.returncode == 0, first.stderr
  entries = [p for p in cache.iterdir() if p.name.endswith("-cache")]
  assert entries, "CPU compiles must be cached (thresholds lowered)"
  for p in entries:
    p.write_bytes(b"\x00garbage\xff" * 50)
  second = _bb_subprocess(tmp_path / "b", cache)
  print(second.stderr)
  assert second.returncode == 0, second.stderr
  lines = _warnings(second.stderr)
  assert len(lines) == 1 and lines[0].startswith("esjax: warning: compilation cache")
  assert "could not read an entry" in lines[0] and "Traceback" not in second.stderr
  np.testing.assert_array_equal(np.load(tmp_path / "a" / "final_params.npy"),
                                np.load(tmp_path / "b" / "final_params.npy"))


def _train_bb(compile_cache_setting):
  return esjax.train(bb_run.config(2, 0), problem=esjax.black_box(bb_run.fitness),
                     initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False,
                     compile_cache=compile_cache_setting)


def test_unwritable_cache_dir_warns_one_line_and_runs(tmp_path, capsys):
  # A path below a regular file can never be created, whoever runs the test (root included).
  (tmp_path / "file").write_text("x")
  bad = tmp_path / "file" / "cache"
  result = _train_bb(str(bad))
  err = capsys.readouterr().err
  print(err)
  assert len(result.metrics) == 2
  lines = _warnings(err)
  assert len(lines) == 1 and str(bad) in lines[0] and "not writable" in lines[0]
  _train_bb(None)  # off: no warning, nothing written
  assert _warnings(capsys.readouterr().err) == []


def test_read_only_cache_dir_warns_and_runs(tmp_path, capsys):
  """A real read-only filesystem (root's tmpfs, remounted ro); skipped where mount fails."""
  mnt = tmp_path / "ro"
  mnt.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                    capture_output=True).returncode:
    pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the file-in-the-way test above "
                "covers an unwritable cache without it")
  try:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    result = _train_bb(str(mnt / "cache"))
    lines = _warnings(capsys.readouterr().err)
    assert len(result.metrics) == 2
    assert len(lines) == 1 and "Read-only file system" in lines[0]
  finally:
    subprocess.run(["umount", "-l", str(mnt)])
  _train_bb(True)  # back to the default for the tests after this one


# ---- the coordinator's address ----

@pytest.mark.parametrize("address", ["127.0.0.1:1234", "localhost:1234", "[::1]:1234",
                                     "10.0.0.1:1234", "10.200.3.4:8476", "192.168.1.7:1234",
                                     "172.16.0.2:1234", "169.254.10.1:1234",
                                     "no-such-host.invalid:1234"])
def test_coordinator_private_or_unresolvable_is_quiet(address):
  assert multihost.public_addresses(address) == []
  assert multihost.coordinator_warning(address) is None


@pytest.mark.parametrize("address", ["8.8.8.8:1234", "1.1.1.1:8476"])
def test_coordinator_public_address_warns_in_one_line(address):
  # Literal addresses: getaddrinfo resolves them without the network; nothing connects.
  warning = multihost.coordinator_warning(address)
  print(warning)
  assert warning.startswith("esjax: warning: --coordinator") and "\n" not in warning
  assert address.split(":")[0] in warning and "no authentication" in warning


# ---- long runs: records stream to metrics.jsonl, not into memory ----

def test_a_run_with_an_out_dir_keeps_no_records_in_memory(tmp_path, monkeypatch):
  config = esjax.TrainConfig.of(population_size=8, generations=6, eval_every=3,
                                normalize_obs=False, checkpoint_every=2)
  kw = dict(problem=esjax.black_box(lambda p, k: -jnp.sum(p * p)), initial_params=jnp.ones(5),
            progress=False, tensorboard=False)
  in_memory = esjax.train(config, **kw).metrics
  reads = []
  real_read = run_io.read_metrics
  monkeypatch.setattr(run_io, "read_metrics", lambda d: reads.append(d) or real_read(d))
  out = str(tmp_path / "run")
  result = esjax.train(config, out_dir=out, **kw)
  # Nothing held while running: the records are read back from the file only when looked at.
  assert isinstance(result.metrics, run_io.MetricsLog) and reads == []
  strip = lambda ms: [{k: v for k, v in m.items() if k not in ("wall_s", "steps_per_s")}
                      for m in ms]
  assert strip(result.metrics) == strip(in_memory) and len(reads) == 1
  assert result.metrics[-1]["generation"] == 6 and len(reads) == 1  # then a plain list
  # A resume appends to the same file; the first result still has its own six records.
  esjax.train(config.replace(generations=8), out_dir=out, resume=True, **kw)
  assert len(run_io.MetricsLog(out, 6)) == 6


# ---- output directories that cannot hold a run, or already hold one ----

@pytest.fixture
def no_compile(monkeypatch):
  """Fails a run that gets as far as building its step: these refusals come before it."""
  from esjax.training import train as train_lib

  def compiled(*args, **kwargs):
    raise AssertionError("the run was built before the refusal")

  monkeypatch.setattr(train_lib, "setup", compiled)


def _tree(root):
  """Every path under ``root`` with its bytes (None: a directory)."""
  return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
          for p in sorted(root.rglob("*"))}


def _one_line(err):
  lines = [l for l in err.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("esjax: error: "), err
  assert "Traceback" not in err
  return lines[0]


def _bad_out_paths(tmp_path):
  """(--out, what the line says is wrong with it)."""
  afile, empty = tmp_path / "afile", tmp_path / "emptyfile"
  afile.write_text("x")
  empty.write_bytes(b"")
  yield str(afile / "x"), f"{str(afile)!r} is a file, not a directory"
  yield str(afile / "x" / "y"), f"{str(afile)!r} is a file, not a directory"
  yield str(empty), f"{str(empty)!r} is a file, not a directory"
  if os.path.isdir("/proc/self"):  # proc refuses new directories, even to root
    yield "/proc/nope/x", "'/proc/nope': No such file or directory"


def test_a_bad_out_path_is_one_line_and_creates_nothing(tmp_path, capsys, no_compile):
  for out, why in list(_bad_out_paths(tmp_path)):
    before = _tree(tmp_path)
    assert main(["train", "--out", out, "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert repr(out) in line and why in line, line
    assert "already exists" not in line
    with pytest.raises(esjax.ConfigError) as e:
      esjax.train(bb_run.config(2, 0), out_dir=out, problem=esjax.black_box(bb_run.fitness),
                  initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False)
    assert "\n" not in str(e.value) and repr(out) in str(e.value)
    assert _tree(tmp_path) == before
  assert not os.path.exists("/proc/nope")


def _bb_train(out, generations, resume=False):
  return esjax.train(bb_run.config(generations, 2), out_dir=str(out),
                     problem=esjax.black_box(bb_run.fitness),
                     initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False,
                     tensorboard=False, resume=resume)


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "params.msgpack",
                                  "checkpoints"])
def test_a_new_run_refuses_a_directory_holding_another_runs_files(tmp_path, name, no_compile):
  out = tmp_path / "myproj"
  out.mkdir()
  (out / "notes.txt").write_text("mine")
  if name == "checkpoints":
    (out / name / "4").mkdir(parents=True)
  else:
    (out / name).write_text("an earlier run's")
  before = _tree(tmp_path)
  with pytest.raises(esjax.ConfigError) as e:
    _bb_train(out, 2)
  print(e.value)
  assert "\n" not in str(e.value) and repr(str(out)) in str(e.value)
  assert "already holds another run's files" in str(e.value) and name in str(e.value)
  assert "resume" in str(e.value) and "another output directory" in str(e.value)
  assert _tree(tmp_path) == before


def test_a_new_run_may_share_a_directory_with_other_files(tmp_path):
  out = tmp_path / "myproj"
  out.mkdir()
  (out / "notes.txt").write_text("mine")
  assert len(_bb_train(out, 2).metrics) == 2
  assert (out / "notes.txt").read_text() == "mine" and (out / "config.json").exists()


def test_resume_with_fewer_generations_than_done_is_refused(tmp_path, capsys, monkeypatch):
  out = tmp_path / "run"
  _bb_train(out, 4)
  before = _tree(tmp_path)
  from esjax.training import train as train_lib
  real_setup = train_lib.setup
  monkeypatch.setattr(train_lib, "setup", lambda *a, **k: pytest.fail("built before refusing"))
  assert main(["train", "--resume", str(out), "--generations", "3", "--quiet"]) == 2
  line = _one_line(capsys.readouterr().err)
  assert "generations=3" in line and "done 4 generations" in line and "at least 4" in line
  with pytest.raises(esjax.ConfigError, match=r"generations=3 .* done 4 generations"):
    _bb_train(out, 3, resume=True)
  assert _tree(tmp_path) == before
  monkeypatch.setattr(train_lib, "setup", real_setup)
  # As many as done: nothing left to run, the run's files stay those of its 4 generations.
  result = _bb_train(out, 4, resume=True)
  assert [m["generation"] for m in result.metrics] == [1, 2, 3, 4]
  assert json.loads((out / "config.json").read_text())["runtime"]["generations"] == 4
  assert _tree(out / "checkpoints") == _tree_of(before, "run/checkpoints/")


def _tree_of(tree, prefix):
  return {k[len(prefix):]: v for k, v in tree.items() if k.startswith(prefix)}


def test_resume_with_an_env_step_budget_below_the_steps_done_is_refused(tmp_path):
  out = tmp_path / "run"

  def run(env_steps, resume=False):
    return esjax.train(bb_run.config(10, 2).replace(env_steps=env_steps), out_dir=str(out),
                       problem=esjax.black_box(bb_run.fitness),
                       initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False,
                       tensorboard=False, resume=resume)

  done = run(40).metrics[-1]["env_steps"]  # the budget, and the last generation's overshoot
  assert done > 40
  before = _tree(tmp_path)
  with pytest.raises(esjax.ConfigError, match=rf"^resume: env_steps=30 .* has done {done} env "
                     r"steps .* must be at least 40$"):
    run(30, resume=True)
  unlocked = lambda tree: {k: v for k, v in tree.items() if not k.endswith("esjax.lock")}
  assert unlocked(_tree(tmp_path)) == unlocked(before)  # the lock is taken before the restore
  # Its own budget again: a finished run, nothing left to run, its records as they were.
  assert run(40, resume=True).metrics[-1]["env_steps"] == done
