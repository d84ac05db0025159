"""pinchjax.atomic_file: a failed or killed write leaves the old file and no temporary."""
import os
import signal
import subprocess
import sys

import pytest

from pinchjax import atomic_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dead_pid() -> int:
  proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  return int(proc.stdout)


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt, SystemExit])
def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path, error):
  path = str(tmp_path / "verdicts.jsonl")
  atomic_file.write(path, ["old\n"])

  def chunks():
    yield "new, half written\n"
    raise error("stopped")

  with pytest.raises(error):
    atomic_file.write(path, chunks())
  assert open(path).read() == "old\n"
  assert os.listdir(tmp_path) == ["verdicts.jsonl"]


def test_temps_of_exited_writers_are_removed_by_the_next_write(tmp_path):
  path = str(tmp_path / "verdicts.jsonl")
  dead = dead_pid()
  stale = [atomic_file.temp_path(path, dead), f"{path}.tmp{dead}"]  # current and older naming
  live = atomic_file.temp_path(path, os.getppid())  # a writer still running: left alone
  other = str(tmp_path / ".scores.json.tmp-x-1")  # another file's temp: not this write's
  for name in stale + [live, other]:
    open(name, "w").write("partial")
  atomic_file.write(path, ["rows\n"])
  assert sorted(os.listdir(tmp_path)) == sorted(
      ["verdicts.jsonl", os.path.basename(live), os.path.basename(other)])
  assert open(path).read() == "rows\n"


def test_a_sigkilled_writer_leaves_a_temp_that_the_next_write_removes(tmp_path):
  path = str(tmp_path / "verdicts.jsonl")
  child = ("import sys, time\n"
           "from pinchjax import atomic_file\n"
           "def chunks():\n"
           "  yield 'row 1\\n'\n"
           "  print('writing', flush=True)\n"
           "  time.sleep(60)\n"
           "  yield 'row 2\\n'\n"
           f"atomic_file.write({path!r}, chunks())\n")
  proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, stdout=subprocess.PIPE,
                          text=True, env=dict(os.environ, PYTHONPATH=REPO))
  assert proc.stdout.readline() == "writing\n"
  proc.send_signal(signal.SIGKILL)
  assert proc.wait(timeout=30) == -signal.SIGKILL
  assert os.listdir(tmp_path) == [os.path.basename(atomic_file.temp_path(path, proc.pid))]
  atomic_file.write(path, ["rows\n"])
  assert os.listdir(tmp_path) == ["verdicts.jsonl"]


def test_a_jsonl_row_that_fails_mid_way_keeps_the_old_file_and_no_temp(tmp_path):
  path = str(tmp_path / "generations.jsonl")
  assert atomic_file.write_jsonl(path, [{"id": "a"}, {"id": "b"}]) == 2
  old = open(path).read()
  with pytest.raises(TypeError):  # a set is not JSON: raised while the temp is half written
    atomic_file.write_jsonl(path, [{"id": "c"}, {"id": {"not", "json"}}, {"id": "d"}])
  assert open(path).read() == old == '{"id": "a"}\n{"id": "b"}\n'
  assert os.listdir(tmp_path) == ["generations.jsonl"]


def test_binary_writes_keep_the_bytes(tmp_path):
  path = str(tmp_path / "vocab.model")
  atomic_file.write(path, [b"\x00\xff", b"\n\r"], binary=True)
  assert open(path, "rb").read() == b"\x00\xff\n\r"
