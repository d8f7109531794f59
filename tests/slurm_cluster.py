"""A real one-node SLURM (Debian's slurm-wlm 22.05 and munge) on loopback, for tests.

Everything lives in a temporary folder: munge key and socket, slurm.conf, state, spool, logs.
The daemons run in the foreground as child processes and are stopped by PID. Clients find
the cluster through the SLURM_CONF variable that `env()` returns, and through a symlink at
the default /etc/slurm/slurm.conf while the cluster runs: snakemake-executor-plugin-slurm-jobstep
drops SLURM_CONF from the environment of the `srun` it starts inside a job, so that `srun`
only finds the default path. A file already there is moved aside and put back on stop.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


def missing_tools() -> list[str]:
    return [t for t in (*DAEMONS, "sbatch", "squeue", "sinfo") if not shutil.which(t)]


def _node_line() -> str:
    """`slurmd -C`'s description of this machine (CPUs, memory), first line."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    def __init__(self, root: Path, min_job_age: int = 300):
        self.root = Path(root)
        self.min_job_age = min_job_age
        self.procs: list[subprocess.Popen] = []
        self._moved_aside: Path | None = None
        self._linked = False

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def env(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        r = self.root
        for d in ("state", "spool", "log", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        node = _node_line()
        node_name = node.split()[0].split("=", 1)[1]
        self.conf.write_text(f"""\
ClusterName=waferrepro-test
SlurmctldHost={node_name}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r / 'munge' / 'munge.socket'}
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'log' / 'slurmctld.log'}
SlurmdLogFile={r / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge={self.min_job_age}
SlurmdTimeout=60
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")

    def _spawn(self, *cmd) -> None:
        # Left open on purpose: the daemon writes to it until stop() ends it.
        log = open(self.root / "log" / f"{Path(cmd[0]).name}.out", "w")  # noqa: SIM115
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                           env=self.env(), start_new_session=True))

    def _link_default_conf(self) -> None:
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            self._moved_aside = DEFAULT_CONF.with_name("slurm.conf.waferrepro-test-aside")
            DEFAULT_CONF.rename(self._moved_aside)
        DEFAULT_CONF.symlink_to(self.conf)
        self._linked = True

    def _unlink_default_conf(self) -> None:
        if self._linked and DEFAULT_CONF.is_symlink():
            DEFAULT_CONF.unlink()
        if self._moved_aside is not None:
            self._moved_aside.rename(DEFAULT_CONF)
        self._linked, self._moved_aside = False, None

    def start(self, timeout: float = 60) -> "SlurmCluster":
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "SlurmCluster":
        self._write_config()
        self._link_default_conf()
        m = self.root / "munge"
        self._spawn("munged", "-F", "--force", f"--key-file={m / 'munge.key'}",
                    f"--socket={m / 'munge.socket'}", f"--pid-file={m / 'munged.pid'}",
                    f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'munged.seed'}")
        deadline = time.time() + timeout
        while not (m / "munge.socket").exists():
            self._check_alive(deadline)
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-f", str(self.conf))
        while True:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                                 env=self.env()).stdout.strip()
            if out in ("idle", "mix", "alloc"):
                return self
            self._check_alive(deadline, f"node state {out!r}")

    def _check_alive(self, deadline: float, what: str = "") -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}); logs in "
                                   f"{self.root / 'log'}")
        if time.time() > deadline:
            raise RuntimeError(f"SLURM did not come up ({what}); logs in {self.root / 'log'}")
        time.sleep(0.2)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self._unlink_default_conf()
