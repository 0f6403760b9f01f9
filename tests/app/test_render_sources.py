"""`esjax render` for the newer sources (issue 11): MinAtar frames as a GIF, MuJoCo Playground
through MuJoCo's offscreen renderer; the rendered episode is episode 0 of `esjax eval`."""
import re

import numpy as np
import pytest
from PIL import Image

from esjax import cli
from esjax.viz import playback


def _train(tmp_path, env, *extra):
  out = tmp_path / "run"
  argv = ["train", "--env", env, "--population-size", "8", "--generations", "2",
          "--eval-every", "0", "--quiet", "--out", str(out), *extra]
  assert cli.main(argv) == 0
  return str(out)


def _rendered(capsys, run_dir, out):
  assert cli.main(["render", run_dir, "--out", str(out), "--seed", "2"]) == 0
  captured = capsys.readouterr()
  m = re.search(r"episode: (\d+) steps, return ([-\d.]+)", captured.out)
  return int(m.group(1)), float(m.group(2)), captured


def test_render_minatar_writes_the_frames_of_the_eval_episode(tmp_path, capsys):
  pytest.importorskip("gymnax")
  run_dir = _train(tmp_path, "gymnax:Breakout-MinAtar", "--episode-length", "60")
  returns = playback.evaluate_run(run_dir, episodes=2, seed=2)
  steps, ret, _ = _rendered(capsys, run_dir, tmp_path / "ep.html")
  assert ret == pytest.approx(returns[0], abs=1e-4)  # the same episode as `esjax eval`
  img = Image.open(tmp_path / "ep.gif")
  assert img.format == "GIF" and img.n_frames == steps + 1 and img.size == (240, 240)
  # The frames show the game: more than the black background, and they change.
  img.seek(0)
  first = np.asarray(img.convert("RGB"))
  img.seek(steps)
  last = np.asarray(img.convert("RGB"))
  assert first.any() and not np.array_equal(first, last)
  assert 'src="ep.gif"' in (tmp_path / "ep.html").read_text()


def test_render_classic_control_is_one_line_exit_2(tmp_path, capsys):
  pytest.importorskip("gymnax")
  run_dir = _train(tmp_path, "gymnax:CartPole-v1", "--episode-length", "20")
  capsys.readouterr()
  assert cli.main(["render", run_dir]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "render draws Brax, Playground and MinAtar" in err


@pytest.mark.slow
def test_render_playground_draws_mujoco_frames_or_says_why(tmp_path, capsys):
  pytest.importorskip("mujoco_playground")
  run_dir = _train(tmp_path, "playground:CartpoleBalance", "--episode-length", "40")
  returns = playback.evaluate_run(run_dir, episodes=1, seed=2)
  steps, ret, captured = _rendered(capsys, run_dir, tmp_path / "ep.html")
  assert steps == 40 and ret == pytest.approx(returns[0], rel=1e-4, abs=1e-3)
  gif = tmp_path / "ep.gif"
  if gif.exists():
    img = Image.open(gif)
    assert img.format == "GIF" and img.n_frames > 1
  else:
    assert "no GIF: no offscreen renderer available" in captured.err
