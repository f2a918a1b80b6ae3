"""Running one untrusted student notebook: resource limits, a write-only-here filesystem rule,
a capped papermill execution and signed result records.

This module is executed as a *script* (``python dflearn/course/sandbox.py run|kernel``) so that its
processes never import the heavy ``dflearn`` package; it therefore uses only the standard library
at import time. Three roles live here:

* ``run``: the per-submission worker. Reads its job (JSON) from stdin, executes the notebook with
  papermill in the ``dflearn-sandbox`` kernel, caps the bytes of output kept, writes the executed
  notebook and ``result.json`` next to (not inside) the submission's work folder, then kills every
  process the kernel left behind.
* ``kernel``: the kernel launcher named in that kernel spec. Joins the submission's ``pids``
  cgroup (where the grader could create one) and sets ``RLIMIT_NPROC`` / ``RLIMIT_AS`` /
  ``RLIMIT_CPU`` / ``RLIMIT_FSIZE``; with Landlock (Linux >= 5.13; skipped where unavailable)
  restricts reads to what the kernel needs (Python, the ``dflearn`` package, the data, system
  folders), writes to the work folder and TCP to the kernel's own ports; then execs ``ipykernel``.
* :func:`install_record_signing`, run by an IPython startup file inside the kernel: every
  ``dflearn.record`` display is signed with a per-run HMAC key, so a hand-made record MIME bundle
  or one copied from another notebook is recognised as forged by :func:`verify`.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import hmac
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
KERNEL_NAME = "dflearn-sandbox"
SIGNATURE_FIELD = "dflearn_signature"  # output metadata key holding a record's HMAC
RECORD_MIME = "application/vnd.dflearn.record+json"  # the record MIME type; dflearn.course.results imports it
TRUNCATION_NOTE = "[dflearn grader: output limit of {limit} bytes reached; later output dropped]"

# Landlock (linux/landlock.h)
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 38, 4, 36
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR, _FS_TRUNCATE = 1 << 1, 1 << 2, 1 << 3, 1 << 14
_FS_WRITE_ALL_V1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
_FS_REFER = 1 << 13
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2
# What a kernel may read of /etc (the rest of /etc, e.g. shadow files, stays closed).
_ETC_READABLE = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
                 "passwd", "group", "hosts", "host.conf", "resolv.conf", "gai.conf", "os-release",
                 "mime.types", "fonts", "fontconfig", "ssl", "ca-certificates", "locale.alias", "alternatives",
                 "matplotlibrc", "debian_version", "lsb-release", "machine-id")
_SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt", "/sys", "/dev",
                    "/run/systemd/resolve")
# Of /proc only system-wide facts and the kernel's own folder: /proc/<pid>/environ of the grader
# (the instructor's shell: tokens, credentials) must stay closed.
_PROC_READABLE = ("cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version", "filesystems", "sys",
                  "pressure")  # and /proc/<the kernel's pid>, added by kernel_main


# ---------------------------------------------------------------- record signatures

def canonical(payload: Any) -> bytes:
    """The bytes a record payload is signed over (sorted-key compact JSON)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(key: bytes, payload: Any) -> str:
    """HMAC-SHA256 of a record payload under ``key`` (hex)."""
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


def verify(key: bytes, payload: Any, signature: Any) -> bool:
    """Whether ``signature`` is the HMAC of ``payload`` under ``key``."""
    return isinstance(signature, str) and hmac.compare_digest(sign(key, payload), signature)


def _after_import(name: str, patch: Callable[[Any], None]) -> None:
    """Call ``patch(module)`` right after module ``name`` is first executed (or now if loaded)."""
    import importlib.abc
    import importlib.machinery

    if name in sys.modules:
        patch(sys.modules[name])
        return

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                execute = spec.loader.exec_module

                def exec_module(module: Any) -> None:
                    execute(module)
                    patch(module)

                spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Finder())


def install_record_signing(key: bytes) -> None:
    """Inside a kernel: sign each record published by a genuine ``dflearn.record`` call.

    ``dflearn.course.results.record`` is wrapped when ``dflearn`` is imported; the display publisher adds
    the HMAC of the payload to the output's metadata only while that wrapper runs, and only for
    the key it was called with. Anything else that displays the record MIME type stays unsigned.
    """
    from IPython import get_ipython

    shell = get_ipython()
    pending: list[str | None] = []
    publish = shell.display_pub.publish

    def signed_publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        payload = data.get(RECORD_MIME) if isinstance(data, dict) else None
        if isinstance(payload, dict) and pending and pending[-1] == payload.get("key"):
            pending[-1] = None  # one signature per genuine call
            metadata = {**(metadata or {}), SIGNATURE_FIELD: sign(key, payload)}
        return publish(data, metadata, *args, **kwargs)

    def patch(results: Any) -> None:
        record = results.record

        @functools.wraps(record)
        def signed_record(key: str, *args: Any, **kwargs: Any) -> Any:
            pending.append(str(key))
            try:
                return record(key, *args, **kwargs)
            finally:
                pending.pop()

        results.record = signed_record

    shell.display_pub.publish = signed_publish
    _after_import("dflearn.course.results", patch)


def skip_slow_imports() -> None:
    """Make ``jsonschema`` skip its optional RFC 3987 IRI checker: importing ``rfc3987_syntax``
    compiles a grammar for about 5 s, paid by every process that imports ``nbformat``."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def startup_script(key: bytes, script: Path) -> str:
    """Text of the IPython startup file that installs record signing and then deletes itself."""
    return (
        "def _dflearn_grader_hook():\n"
        "    import importlib.util, os\n"
        f"    spec = importlib.util.spec_from_file_location('_dflearn_sandbox', {str(Path(__file__).resolve())!r})\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        f"    os.remove({str(script)!r})\n"
        f"    module.install_record_signing(bytes.fromhex({key.hex()!r}))\n"
        "_dflearn_grader_hook()\n"
        "del _dflearn_grader_hook\n"
    )


# ---------------------------------------------------------------- OS limits

def set_rlimit(limit: int, value: int) -> None:
    """Set both soft and hard ``limit`` to ``value`` (or to the hard limit if that is lower)."""
    soft, hard = resource.getrlimit(limit)
    cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(limit, (cap, cap))


def set_limits(memory_bytes: int | None, cpu_seconds: int | None, file_bytes: int | None) -> None:
    """Apply address-space, CPU-time and file-size limits to this process and its children."""
    for limit, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_CPU, cpu_seconds),
                         (resource.RLIMIT_FSIZE, file_bytes)):
        if value:
            set_rlimit(limit, value)


def _syscall(number: int, *args: Any) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(number, *args)
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result


def _prctl(option: int, value: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0


def landlock_restrict(writable: list[Path], bind_ports: list[int], readable: list[Path] | None = None) -> int:
    """Forbid writes outside ``writable`` (folders or files), reads outside ``readable`` and
    ``writable`` (when ``readable`` is given), TCP connects, TCP binds except on ``bind_ports``
    and signals to processes outside this sandbox. Returns the ABI used (0: none).
    """
    abi = landlock_abi()
    if abi < 1:
        return 0
    read_rights = _FS_READ_FILE | _FS_READ_DIR if readable is not None else 0
    fs_rights = (_FS_WRITE_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
                 | read_rights)
    net_rights = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    fields = [fs_rights] + ([net_rights] if abi >= 4 else []) + ([scoped] if abi >= 6 else [])
    attr = (ctypes.c_uint64 * len(fields))(*fields)
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                       ctypes.c_uint32(0))
    try:
        file_write = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0) | (read_rights & _FS_READ_FILE)
        for path in writable:
            if path.exists():
                _add_path_rule(ruleset, path, fs_rights if path.is_dir() else file_write)
        for path in readable or []:
            if path.exists():
                _add_path_rule(ruleset, path, read_rights if path.is_dir() else _FS_READ_FILE)
        for port in bind_ports if net_rights else []:
            rule = (ctypes.c_uint64 * 2)(_NET_BIND_TCP, port)
            _syscall(_SYS_ADD_RULE, ruleset, ctypes.c_int(_RULE_NET_PORT), ctypes.byref(rule),
                     ctypes.c_uint32(0))
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        _syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _add_path_rule(ruleset: int, path: Path, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = (ctypes.c_uint8 * 12)()
        ctypes.memmove(rule, ctypes.byref(ctypes.c_uint64(rights)), 8)
        ctypes.memmove(ctypes.byref(rule, 8), ctypes.byref(ctypes.c_int32(fd)), 4)
        _syscall(_SYS_ADD_RULE, ruleset, ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


def kernel_readable(extra: list[str | os.PathLike]) -> list[str]:
    """The folders a kernel may read: system folders, a few files of /etc, this Python (its
    prefix, base prefix and site-packages) and ``extra`` (the dflearn package, the data, the
    kernel's connection folder). Everything else, e.g. the solutions, other students' folders
    and the grader's home, stays unreadable under Landlock."""
    import site
    import sysconfig

    found = [*_SYSTEM_READABLE, *(f"/etc/{name}" for name in _ETC_READABLE),
             *(f"/proc/{name}" for name in _PROC_READABLE), sys.prefix, sys.base_prefix,
             sys.exec_prefix, *site.getsitepackages(), *sysconfig.get_paths().values(), *map(str, extra)]
    paths = []
    for path in found:
        for variant in (Path(path), Path(path).resolve()):  # the link and what it points at
            if variant.exists() and str(variant) not in paths:
                paths.append(str(variant))
    return paths


# ---------------------------------------------------------------- process-count limit

def _cgroup_bases() -> list[Path]:
    """Folders where this process may create a ``pids`` cgroup: its own cgroup in the v1 pids
    hierarchy, or in the unified (v2) hierarchy when ``pids`` is delegated there."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    bases = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            bases.append(Path("/sys/fs/cgroup/pids") / path.lstrip("/"))
        elif controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            bases.append(Path("/sys/fs/cgroup") / path.lstrip("/"))
    return bases


def create_pids_cgroup(name: str, max_tasks: int) -> Path | None:
    """A fresh cgroup allowing at most ``max_tasks`` processes and threads, or None where this
    user may not create one (then only ``RLIMIT_NPROC`` applies, which spares root)."""
    for base in _cgroup_bases():
        folder = base / name
        try:
            folder.mkdir()
        except OSError:
            continue
        try:
            (folder / "pids.max").write_text(str(max_tasks))
            return folder
        except OSError:
            remove_cgroup(folder)
    return None


def remove_cgroup(folder: Path | None) -> None:
    """Kill every process left in a cgroup made by :func:`create_pids_cgroup`, then remove it."""
    if folder is None or not folder.exists():
        return
    for _ in range(50):
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            folder.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def _own_tasks() -> int:
    """Processes and threads of this real user: what ``RLIMIT_NPROC`` counts."""
    uid, count = os.getuid(), 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1"))
    return count


def limit_processes(max_tasks: int | None, cgroup: str | None) -> None:
    """Cap the processes and threads this process and its children may create: join the
    submission's cgroup when there is one, and set ``RLIMIT_NPROC`` (this user's current count
    plus ``max_tasks``; the kernel ignores it for root, hence the cgroup)."""
    if not max_tasks:
        return
    if cgroup:
        (Path(cgroup) / "cgroup.procs").write_text(str(os.getpid()))
    if os.getuid() != 0 and sys.platform.startswith("linux"):
        set_rlimit(resource.RLIMIT_NPROC, _own_tasks() + max_tasks)


def kernel_main(argv: list[str]) -> None:
    """``sandbox.py kernel LIMITS_JSON -- CMD...``: restrict this process, then exec the kernel."""
    limits = json.loads(argv[0])
    command = argv[argv.index("--") + 1:]
    connection_file = Path(command[command.index("-f") + 1])
    connection = json.loads(connection_file.read_text())
    ports = [int(connection[k]) for k in connection if k.endswith("_port")]
    limit_processes(limits.get("max_tasks"), limits.get("cgroup"))
    set_limits(limits.get("memory_bytes"), limits.get("cpu_seconds"), limits.get("file_bytes"))
    writable = [Path(p) for p in limits.get("writable", [])]
    readable = limits.get("readable")
    if readable is not None:
        readable = [Path(p) for p in [*readable, connection_file.parent, f"/proc/{os.getpid()}"]]
    landlock_restrict(writable + [Path("/dev/null"), Path("/dev/shm")], ports, readable)
    os.execv(command[0], command)


def kernel_spec(limits: dict[str, Any]) -> dict[str, Any]:
    """A Jupyter kernel spec whose kernel starts under ``limits`` (see :func:`kernel_main`)."""
    return {"argv": [sys.executable, str(Path(__file__).resolve()), "kernel", json.dumps(limits), "--",
                     sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (dflearn grading sandbox)", "language": "python"}


# ---------------------------------------------------------------- the worker

def _capped_client(limit: int) -> type:
    """A papermill notebook client that keeps at most ``limit`` bytes of output per notebook
    (error outputs are always kept, so the failing cell stays visible)."""
    import nbformat
    from papermill.clientwrap import PapermillNotebookClient

    class CappedClient(PapermillNotebookClient):
        used = {"output": 0, "record": 0}  # records have their own budget: a flood can't hide them
        truncated = False

        def output(self, outs, msg, display_id, cell_index):  # noqa: ANN001, ANN201
            content = msg.get("content", {})
            size = len(json.dumps(content.get("data", content.get("text", "")), default=str))
            if msg.get("msg_type") != "error":  # errors are always kept
                budget = "record" if RECORD_MIME in content.get("data", {}) else "output"
                self.used[budget] += size
                if self.used[budget] > limit:
                    if not type(self).truncated:
                        type(self).truncated = True
                        outs.append(nbformat.v4.new_output(
                            "stream", name="stderr", text=TRUNCATION_NOTE.format(limit=limit) + "\n"))
                    return None
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def _kill_descendants() -> None:
    """Kill every process below this one (kernels, anything they daemonised)."""
    import psutil

    me = psutil.Process()
    for child in me.children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass


def run_main() -> None:
    """``sandbox.py run`` with a JSON job on stdin: execute one notebook, write ``result.json``."""
    job = json.loads(sys.stdin.read())
    root = Path(job["root"])
    if sys.platform.startswith("linux"):
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # orphans of the kernel come back to us
        _prctl(_PR_SET_DUMPABLE, 0)  # the kernel may not read our memory (the key)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # no dflearn/*.py shadowing
    skip_slow_imports()

    key = bytes.fromhex(job["key"])
    startup = Path(job["ipython_dir"]) / "profile_default" / "startup" / "00-dflearn-grader.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(startup_script(key, startup))
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps(kernel_spec(job["limits"])))

    import papermill as pm
    import papermill.engines

    client = _capped_client(int(job["max_output_bytes"]))
    papermill.engines.PapermillNotebookClient = client
    status, error, start = "ok", "", time.perf_counter()
    try:
        pm.execute_notebook(job["input"], job["output"], parameters=job["parameters"],
                            kernel_name=KERNEL_NAME, language="python", progress_bar=False, cwd=job["cwd"],
                            execution_timeout=job["cell_timeout"], start_timeout=120,
                            allow_errors=True, log_output=False)
    except pm.PapermillExecutionError:
        status = "error"  # a cell raised; the grader reads which one from the notebook
    except BaseException as exc:  # kernel death, cell timeout, SIGTERM, invalid notebook
        timed_out = "Timeout" in type(exc).__name__ or "timed out" in str(exc).lower()
        status, error = ("timeout" if timed_out else "error"), f"{type(exc).__name__}: {exc}".strip()
    finally:
        _kill_descendants()
    result = {"status": status, "error": error[:2000], "seconds": time.perf_counter() - start,
              "truncated": client.truncated}
    Path(job["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["kernel"]:
        kernel_main(sys.argv[2:])
    elif sys.argv[1:2] == ["run"]:
        run_main()
    else:
        sys.exit("usage: sandbox.py run < job.json | sandbox.py kernel LIMITS -- CMD...")
