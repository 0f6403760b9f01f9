"""Logs (metrics.jsonl, TensorBoard, W&B), progress output and `esjax plot`.

Everything here trains black boxes (no Brax compile), so the module runs in seconds.
"""
import io
import json
import os
import re
import struct
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import esjax
from esjax import cli
from esjax.sinks import loggers as logging_sinks
from esjax.sinks.progress import Progress


def _sphere(params, key):
  del key
  return -jnp.sum((params - 1.0) ** 2)


def _train(out_dir, seed=0, **kw):
  config = esjax.TrainConfig.of(population_size=8, generations=6, eval_every=3, eval_episodes=1,
                             normalize_obs=False, learning_rate=0.1, seed=seed)
  return esjax.train(config, out_dir=str(out_dir), problem=esjax.black_box(_sphere),
                     initial_params=jnp.zeros(4), progress=False, **kw)


def _read_tb_scalars(tb_dir):
  """{tag: [(step, value)]} from tensorboardX event files (TFRecord framing, no tensorboard)."""
  from tensorboardX.proto import event_pb2
  out = {}
  for name in sorted(os.listdir(tb_dir)):
    with open(os.path.join(tb_dir, name), "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for v in event.summary.value:
        if v.HasField("simple_value"):
          out.setdefault(v.tag, []).append((event.step, v.simple_value))
  return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("runs")
  results = [_train(root / f"run{s}", seed=s) for s in (0, 1)]
  return root, results


def test_tensorboard_scalars_match_metrics_jsonl(two_runs):
  root, results = two_runs
  tb = _read_tb_scalars(root / "run0" / logging_sinks.TB_DIR)
  metrics = esjax.rundir.files.read_metrics(str(root / "run0"))
  assert metrics == results[0].metrics
  assert tb["train/pop_return_mean"] == [
      (m["generation"], pytest.approx(m["pop_return_mean"], rel=1e-6)) for m in metrics]
  evals = [(m["generation"], pytest.approx(m["eval_return"], rel=1e-6))
           for m in metrics if "eval_return" in m]
  assert [g for g, _ in evals] == [3, 6]
  assert tb["eval/eval_return"] == evals
  assert [s for s, _ in tb["eval_vs_env_steps/return"]] == [
      m["env_steps"] for m in metrics if "eval_return" in m]


def test_no_tensorboard_flag_writes_no_event_files(tmp_path):
  _train(tmp_path / "r", tensorboard=False)
  assert not (tmp_path / "r" / logging_sinks.TB_DIR).exists()
  assert (tmp_path / "r" / "metrics.jsonl").exists()


def test_wandb_missing_is_one_line_exit_2_and_no_directory(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(logging_sinks, "wandb_available", lambda: False)
  out = tmp_path / "never"
  assert cli.main(["train", "--wandb", "--quiet", "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("esjax: error: --wandb needs the 'wandb' package") and "\n" not in err
  assert not out.exists()
  with pytest.raises(esjax.ConfigError, match="wandb"):
    _train(tmp_path / "lib", wandb=logging_sinks.WandbOptions())
  assert not (tmp_path / "lib").exists()


def test_a_dashboard_asked_for_without_a_run_directory_is_one_line():
  # TensorBoard and W&B write under the run directory: asked for by name without out_dir
  # they would log nothing, so the run refuses before building anything.
  for kw in ({"wandb": logging_sinks.WandbOptions()},
             {"sinks": [esjax.sinks.TensorBoard()]}):
    with pytest.raises(esjax.ConfigError, match="writes under the run directory") as e:
      esjax.train(esjax.TrainConfig.of(population_size=8), **kw)
    assert "\n" not in str(e.value)


def test_wandb_receives_every_record_when_installed(tmp_path, monkeypatch):
  calls = {"log": [], "init": None, "finished": False}

  class Run:
    def log(self, data, step):
      calls["log"].append((step, data))

    def finish(self):
      calls["finished"] = True

  def init(**kw):
    calls["init"] = kw
    return Run()

  monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
  result = _train(tmp_path / "r", wandb=logging_sinks.WandbOptions("proj", "name1"))
  assert calls["init"]["project"] == "proj" and calls["init"]["name"] == "name1"
  assert calls["init"]["config"]["population_size"] == 8
  assert [s for s, _ in calls["log"]] == [m["generation"] for m in result.metrics]
  assert calls["log"][2][1]["eval/eval_return"] == pytest.approx(result.metrics[2]["eval_return"])
  assert calls["finished"]


def _rec(g, eval_return=None):
  rec = {"generation": g, "env_steps": 100 * g, "pop_return_mean": float(g),
         "pop_return_max": 2.0 * g, "steps_per_s": 1000.0}
  if eval_return is not None:
    rec["eval_return"] = eval_return
  return rec


def test_progress_plain_lines_when_not_a_terminal():
  stream = io.StringIO()
  bar = Progress(3, stream=stream)
  for g in (1, 2, 3):
    bar.write(_rec(g, eval_return=5.5 if g == 2 else None))
  bar.log("note")
  bar.close()
  lines = stream.getvalue().splitlines()
  assert lines[0] == "gen 1 | steps 100 | return 1.0 (max 2.0) | 1,000 steps/s"
  assert lines[1].endswith("| eval 5.5") and "eval" not in lines[2]
  assert lines[3] == "note" and len(lines) == 4
  quiet = io.StringIO()
  off = Progress(3, enabled=False, stream=quiet)
  off.write(_rec(1))
  off.close()
  assert quiet.getvalue() == ""


class _FakeTTY(io.StringIO):
  def isatty(self):
    return True


def test_progress_bar_in_a_narrow_terminal_keeps_bar_and_last_eval(monkeypatch):
  monkeypatch.setenv("COLUMNS", "80")
  stream = _FakeTTY()
  bar = Progress(4, stream=stream)
  for g in (1, 2, 3):
    bar.write(_rec(g, eval_return=1234.5 if g == 2 else None))
  bar.close()
  text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
  final = [l for l in text.replace("\r", "\n").splitlines() if l.strip()][-1]
  assert len(final) <= 80
  assert "gen 3/4" in final and "━" in final and "eta" in final
  assert "eval 1234.5" in final  # the last evaluation stays on the bar
  stream = _FakeTTY()
  bar = Progress(2**31 - 1, stream=stream, total_env_steps=1000)
  bar.write(_rec(5))
  bar.close()
  assert "500/1,000 steps" in stream.getvalue()


def test_plot_two_runs_overlaid_png(two_runs, capsys):
  root, _ = two_runs
  out = root / "both.png"
  assert cli.main(["plot", str(root / "run0"), str(root / "run1"), "--out", str(out)]) == 0
  assert str(out) in capsys.readouterr().out
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  img = np.asarray(Image.open(out).convert("RGB"))
  assert img.shape == (800, 1200, 3)
  colors = {tuple(c) for c in img.reshape(-1, 3)}
  # Matplotlib's first two cycle colors: one curve per run.
  assert (0x1f, 0x77, 0xb4) in colors and (0xff, 0x7f, 0x0e) in colors
  assert not list(root.glob("*.tmp*"))


def test_plot_single_run_default_path_and_cut_off_last_line(tmp_path):
  run = tmp_path / "r"
  run.mkdir()
  lines = [json.dumps({"generation": g, "env_steps": 10 * g, "wall_s": 0.5 * g,
                       "pop_return_mean": g, "pop_return_max": g + 1}) for g in (1, 2)]
  (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"generation": 3, "env_')
  assert cli.main(["plot", str(run)]) == 0
  assert Image.open(run / "curves.png").format == "PNG"


@pytest.mark.parametrize("case", ["missing_dir", "no_metrics", "empty_metrics", "damaged",
                                  "bad_suffix"])
def test_plot_errors_are_one_line_exit_2(tmp_path, capsys, case):
  run = tmp_path / "r"
  out = tmp_path / "o.png"
  if case != "missing_dir":
    run.mkdir()
  if case == "empty_metrics":
    (run / "metrics.jsonl").write_text("")
  if case == "damaged":
    (run / "metrics.jsonl").write_text('not json\n{"generation": 1}\n')
  if case == "bad_suffix":
    out = tmp_path / "o.txt"
    (run / "metrics.jsonl").write_text('{"generation": 1}\n')
  assert cli.main(["plot", str(run), "--out", str(out)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("esjax: error: ") and err.count("\n") == 1
  assert not out.exists()
