"""`esjax eval` and `esjax render` on one tiny trained Brax run (shared by the module)."""
import base64
import json
import os
import re
import zlib

import numpy as np
import pytest
from PIL import Image

from esjax import cli
from esjax.viz import playback

pytestmark = pytest.mark.slow  # compiles a real Brax env (training, eval and render rollouts)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  out = tmp_path_factory.mktemp("pb") / "pendulum"
  argv = ["train", "--env", "inverted_pendulum", "--backend", "spring", "--episode-length", "30",
          "--population-size", "8", "--hidden-sizes", "8,8", "--generations", "2",
          "--eval-every", "0", "--quiet", "--out", str(out)]
  assert cli.main(argv) == 0
  return str(out)


@pytest.fixture(scope="module")
def returns(run_dir):
  return playback.evaluate_run(run_dir, episodes=3, seed=1)


def test_eval_prints_mean_and_std_of_fresh_episodes(run_dir, returns, capsys):
  assert returns.shape == (3,) and np.all(np.isfinite(returns))
  # Pendulum pays 1 per step alive, so each return is an episode length in [1, 30].
  assert np.all((returns >= 1) & (returns <= 30)) and np.all(returns == np.round(returns))
  assert cli.main(["eval", run_dir, "--episodes", "3", "--seed", "1"]) == 0
  out = capsys.readouterr().out
  assert f"mean return {returns.mean():.2f}, std {returns.std():.2f}" in out


def _html_states(path):
  html = open(path).read()
  assert "viewer.js" in html
  payload = max(re.findall(r"[A-Za-z0-9+/=]{200,}", html), key=len)
  return json.loads(zlib.decompress(base64.b64decode(payload)))["states"]["x"]


def test_render_writes_html_of_the_eval_episode_and_a_gif_or_a_reason(run_dir, returns, tmp_path,
                                                                      capsys):
  out = tmp_path / "ep.html"
  assert cli.main(["render", run_dir, "--out", str(out), "--seed", "1"]) == 0
  captured = capsys.readouterr()
  printed = captured.out
  steps = int(re.search(r"episode: (\d+) steps, return ([-\d.]+)", printed).group(1))
  ret = float(re.search(r"return ([-\d.]+)", printed).group(1))
  # The rendered episode is episode 0 of `esjax eval --seed 1` (its key does not depend on
  # the episode count): the scan rollout used for rendering and the training rollout (a
  # while_loop) agree on it.
  assert ret == pytest.approx(returns[0], abs=1e-3) and steps == round(returns[0])
  assert len(_html_states(out)) == steps + 1  # the reset state plus one per step
  gif = tmp_path / "ep.gif"
  if gif.exists():
    img = Image.open(gif)
    assert img.format == "GIF" and img.n_frames > 1
    assert f"wrote {gif}" in printed
  else:
    assert re.search(r"^esjax: warning: no GIF: no offscreen renderer available \(.+\)$",
                     captured.err, re.M)  # a warning: on stderr
  assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("command", ["eval", "render"])
def test_eval_and_render_errors_are_one_line_exit_2(tmp_path, capsys, command):
  assert cli.main([command, str(tmp_path / "missing")]) == 2
  err = capsys.readouterr().err
  assert "'missing' does not exist" in err.replace(str(tmp_path) + "/", "") and err.count("\n") == 1
  (tmp_path / "notes.txt").write_text("not a run")
  assert cli.main([command, str(tmp_path / "notes.txt")]) == 2
  err = capsys.readouterr().err
  assert "'notes.txt' is a file" in err.replace(str(tmp_path) + "/", "") and err.count("\n") == 1
  (tmp_path / "empty").mkdir()
  assert cli.main([command, str(tmp_path / "empty")]) == 2
  err = capsys.readouterr().err
  assert "config.json" in err and err.count("\n") == 1
  assert not list((tmp_path / "empty").iterdir())
