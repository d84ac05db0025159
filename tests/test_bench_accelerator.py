"""The bench protocol's busy-host warning and alternation, and bench/accelerator.py's CPU path
(--tiny): the JSON it prints has train MFU and decode rates for each model."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))
import accelerator  # pylint: disable=wrong-import-position
import protocol  # pylint: disable=wrong-import-position


@pytest.mark.parametrize("load,warns", [(0.9, False), (1.1, True)])
def test_busy_host_warns_above_half_the_cores(monkeypatch, capsys, load, warns):
  monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
  monkeypatch.setattr(os, "cpu_count", lambda: 2)
  report = protocol.Host().report()
  assert report["before"] == {"load_average_1_5_15": [load, 0.0, 0.0], "cpu_count": 2}
  assert ("warning" in report) == warns
  assert ("busy host: 1-minute load 1.1" in capsys.readouterr().err) == warns


def test_settle_waits_for_the_load_to_fall_and_gives_up_at_its_limit(monkeypatch):
  loads = iter([1.6, 1.3, 1.1, 0.9])  # falling below half of 2 cores on the fourth reading
  monkeypatch.setattr(os, "getloadavg", lambda: (next(loads), 0.0, 0.0))
  monkeypatch.setattr(os, "cpu_count", lambda: 2)
  slept = []
  monkeypatch.setattr(protocol.time, "sleep", slept.append)
  protocol.settle(max_s=60, poll_s=5)
  assert slept == [5, 5, 5]
  monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 0.0, 0.0))  # never settles
  clock = iter(range(0, 1000, 5))  # each reading 5 s later
  monkeypatch.setattr(protocol.time, "monotonic", lambda: next(clock))
  assert 60 <= protocol.settle(max_s=60, poll_s=5) <= 65  # gave up at the limit


def test_alternate_interleaves_rounds_after_warmup():
  calls = []
  times = protocol.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             rounds=2, calls_per_round=2, warmup=1)
  assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 2
  assert [len(v) for v in times.values()] == [2, 2]
  assert protocol.best_torch({"pytorch_threads_1": [3.0, 2.0], "pytorch_threads_2": [2.5],
                              "pinchjax": [1.0]}) == ("pytorch_threads_1", 2.0)


def test_accelerator_bench_tiny_runs_on_cpu(capsys):
  out = accelerator.main(["--tiny", "--models", "gemma3_1b", "--steps", "1", "--repeats", "1",
                          "--decode-batches", "1", "3", "--new-tokens", "4"])
  printed = json.loads(capsys.readouterr().out)
  assert printed == json.loads(json.dumps(out))
  assert printed["backend"] == "cpu" and printed["tiny"] is True
  assert printed["peak_source"].startswith("measured float32 matmul rate")
  gemma = printed["models"]["gemma3_1b"]
  # The model's own dtypes: bf16 compute over float32 master weights; its local layers.
  assert (gemma["config"]["dtype"], gemma["config"]["param_dtype"]) == ("bfloat16", "float32")
  train = gemma["train"]
  assert train["seq"] == 64 and train["batch"] == 2 * printed["devices"]
  assert 0.0 < train["mfu"] <= 1.0
  assert train["mfu"] == pytest.approx(train["tokens_per_s"] * train["flops_per_token"] /
                                       (printed["peak_flops_per_device"] * printed["devices"]))
  assert train["tokens_per_s"] == pytest.approx(train["batch"] * 64 / train["step_time_s"])
  assert 5.0 < train["loss"] < 8.0  # about log(512) = 6.2 for random weights
  assert set(gemma["decode"]) == {"batch_1", "batch_3"}
  for b, rate in ((1, gemma["decode"]["batch_1"]), (3, gemma["decode"]["batch_3"])):
    assert rate["tokens_per_s"] == pytest.approx(b * 4 / rate["seconds"])
  assert set(printed["host"]) >= {"before", "after"}

