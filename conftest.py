"""Session-wide rules for the whole test run: the tests in tests/ and the doctests of imgindex/.

- **No network.** Wrappers around ``socket.socket``'s connect/sendto and the name lookups of
  :mod:`socket` refuse, with :class:`NetworkAccessBlocked`, every connection, datagram and name
  lookup that leaves the loopback interface; a blocked attempt also fails the test it happened in
  (at teardown) even if the code swallowed the error, and fails the session when it happened
  outside a test (at collection). Loopback stays open:
  tests/test_distributed.py runs a dask cluster on 127.0.0.1, nbclient talks to its kernel on it.
  Only this process is guarded, not the programs the slow tests start.
- **Slow tests are marked.** A test that starts a program (``subprocess``, ``os.system``, ...)
  fails unless it is marked ``@pytest.mark.slow``; ``-m "not slow"`` is the quick loop.
- **Nothing is left in the temporary directory.** For the session ``tempfile.gettempdir()`` (and
  ``TMPDIR``, for the programs started) is a folder of its own inside pytest's base temporary
  directory, so whatever the tests and doctests create there is theirs alone, even on a machine
  whose ``/tmp`` other processes use at the same time. At the end every entry left in it is
  listed with the test or doctest that created it, and fails the session. pytest removes its base
  folder after a passing run (``tmp_path_retention_policy = "failed"``), so the system temporary
  directory keeps nothing; new entries that appear there meanwhile are reported too, not failed on
  (they may be another process's).
- **Doctest namespace.** ``tmp_dir``: a fresh empty folder for each doctest that names it, removed
  after it passes; ``example_dir``: one example dataset
  (``write_example_dataset(root, n_samples=2, extras=False)``: nested layout, every modality and
  format), written once per session when a doctest first names it.
- No background thread outlives the progress bar that started it (tqdm's monitor is off).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

# --- no network -------------------------------------------------------------------------------


class NetworkAccessBlocked(RuntimeError):
    """Code under test reached for the network; the test suite never does.

    Not an :class:`OSError` on purpose: code that treats an unreachable host as an ordinary
    failure (retry, fall back, warn) must not absorb it quietly.
    """


_LOOPBACK_NAMES = frozenset({"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback(host) -> bool:
    """True for a host that names this machine's loopback interface (or any-address, 0.0.0.0)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _is_ip_literal(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


_INET = (socket.AF_INET, socket.AF_INET6)
#: socket methods that send to an address: name -> position of the address among the arguments
_SOCKET_METHODS = {"connect": 0, "connect_ex": 0, "sendto": -1, "sendmsg": 3}
_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")
_SPAWNS = ((os, "system"), (os, "posix_spawn"), (os, "posix_spawnp"))


class _Guard:
    """Wrappers around the entry points of the network and of new programs, and what they saw.

    Wrapped once, when pytest starts (so collection is guarded too), and put back at its end:
    ``socket.socket``'s connect/connect_ex/sendto/sendmsg (every socket of the standard library,
    asyncio, urllib, tornado and dask is one), the name lookups of :mod:`socket` (which
    ``create_connection`` and asyncio call), ``subprocess.Popen`` and ``os.system`` /
    ``posix_spawn``. Not an audit hook (``sys.addaudithook``): a hook is called for every audited
    event, ``id()`` included, which the library calls millions of times in a run.
    """

    Blocked = NetworkAccessBlocked
    is_loopback = staticmethod(is_loopback)

    def __init__(self) -> None:
        self.enabled = False
        self.hostname = ""
        self.item: pytest.Item | None = None
        self.item_is_slow = False
        self.blocked: list[tuple[str | None, str]] = []  # (nodeid or None, what)
        self.spawned: list[tuple[str, str]] = []  # (nodeid, what), by tests not marked slow
        self._originals: list[tuple[object, str, object, bool]] = []

    def install(self) -> None:
        if self._originals:
            return
        self.hostname = socket.gethostname().lower()
        for name, position in _SOCKET_METHODS.items():
            self._wrap(socket.socket, name, self._socket_method(name, position))
        for name in _LOOKUPS:
            self._wrap(socket, name, self._lookup(name))
        self._wrap(subprocess.Popen, "__init__", self._spawn("subprocess.Popen"))
        for owner, name in _SPAWNS:
            if hasattr(owner, name):
                self._wrap(owner, name, self._spawn(f"os.{name}"))
        self.enabled = True

    def uninstall(self) -> None:
        for owner, name, original, own in reversed(self._originals):
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._originals.clear()
        self.enabled = False

    def _wrap(self, owner, name: str, make) -> None:
        original = getattr(owner, name)
        self._originals.append((owner, name, original, name in vars(owner)))
        wrapper = make(original)
        functools.update_wrapper(wrapper, original)
        setattr(owner, name, wrapper)

    @contextlib.contextmanager
    def expected(self):
        """Blocked attempts inside this block are the test's point: they do not fail the test."""
        n = len(self.blocked)
        try:
            yield self.blocked
        finally:
            del self.blocked[n:]

    def _refuse(self, what: str) -> None:
        self.blocked.append((self.item.nodeid if self.item is not None else None, what))
        raise NetworkAccessBlocked(
            f"{what}: the test suite never touches the network (blocked by the root conftest.py)"
        )

    def _socket_method(self, name: str, position: int):
        guard = self
        needed = position + 1 if position >= 0 else -position

        def make(original):
            def method(sock, *args):
                if guard.enabled and len(args) >= needed and sock.family in _INET:
                    address = args[position]
                    if isinstance(address, tuple) and address and not is_loopback(address[0]):
                        guard._refuse(f"socket.{name} to {address[:2]!r}")
                return original(sock, *args)

            return method

        return make

    def _lookup(self, name: str):
        guard = self

        def make(original):
            def lookup(host, *args, **kwargs):
                if guard.enabled:
                    target = host[0] if name == "getnameinfo" and isinstance(host, tuple) and host else host
                    if not guard._local(target, numeric_ok=name == "getaddrinfo"):
                        guard._refuse(f"socket.{name} of {target!r}")
                return original(host, *args, **kwargs)

            return lookup

        return make

    def _local(self, host, *, numeric_ok: bool) -> bool:
        """True when looking ``host`` up does not leave the machine."""
        if is_loopback(host) or (numeric_ok and _is_ip_literal(host)):
            return True
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
        return name.lower() == self.hostname

    def _spawn(self, what: str):
        guard = self

        def make(original):
            def spawn(*args, **kwargs):
                if guard.enabled and guard.item is not None and not guard.item_is_slow and not _library_lookup():
                    if what == "subprocess.Popen":  # (self, args, ...)
                        program = args[1] if len(args) > 1 else kwargs.get("args")
                    else:
                        program = args[0] if args else None
                    guard.spawned.append((guard.item.nodeid, f"{what} {program!r}"))
                return original(*args, **kwargs)

            return spawn

        return make


def _library_lookup() -> bool:
    """True inside ``ctypes.util.find_library``, which runs ``ldconfig -p`` once per library name.

    (imgindex looks up the C library once per process, at the first scan: not a program a test starts.)
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith(os.path.join("ctypes", "util.py")):
            return True
        frame = frame.f_back
    return False


GUARD = _Guard()


@pytest.fixture(scope="session", autouse=True)
def network_guard():
    """The guard, in force for every test (installed when pytest starts, so collection is guarded too)."""
    assert GUARD.enabled, "the network guard of the root conftest.py is not in force"
    yield GUARD
    assert GUARD.enabled, "something turned the network guard of the root conftest.py off"


# --- nothing left in the temporary directory ----------------------------------------------------


class _TempCheck:
    """The session's temporary directory, who created what in it, and what is left at the end."""

    def __init__(self) -> None:
        self.system = tempfile.gettempdir()
        self.system_before: set[str] = set()
        self.basetemp: Path | None = None
        self.private: Path | None = None
        self.creator: dict[str, str] = {}  # entry name -> nodeid of the test after which it appeared
        self.doctests: set[str] = set()  # nodeids of doctest items
        self.saved: tuple[str | None, str | None] = (None, None)
        self.left: dict[str, str] = {}
        self.system_left: list[str] = []
        self.failed = False

    def listing(self) -> set[str]:
        if self.private is None:
            return set()
        try:
            return set(os.listdir(self.private))
        except FileNotFoundError:
            return set()

    def start(self, basetemp: Path, private: Path) -> None:
        self.basetemp, self.private = basetemp, private
        self.saved = (tempfile.tempdir, os.environ.get("TMPDIR"))
        tempfile.tempdir = str(private)
        os.environ["TMPDIR"] = str(private)

    def stop(self) -> None:
        tempdir, env = self.saved
        tempfile.tempdir = tempdir
        if env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env


TMP = _TempCheck()


@pytest.fixture(scope="session", autouse=True)
def session_tempdir(tmp_path_factory):
    """``tempfile.gettempdir()`` for the session: a folder of its own in pytest's base directory."""
    basetemp = tmp_path_factory.getbasetemp()  # in the system temporary directory, before the switch
    TMP.start(basetemp, tmp_path_factory.mktemp("tempdir", numbered=False))
    yield TMP.private
    TMP.stop()


@pytest.fixture(scope="session", autouse=True)
def _no_tqdm_monitor_thread():
    """Turn tqdm's monitor thread off for the session (``monitor_interval = 0``, tqdm's documented switch).

    The first bar drawn (``progress=True``) otherwise starts a daemon thread that tqdm 4.70 never
    stops; it wakes every 10 s and then frees objects it allocated before it slept. A test that
    counts frozen objects (``gc.get_freeze_count()``, tests/test_scan_read.py) saw the count drop
    whenever one of those wake-ups fell between its ``gc.freeze()`` and its check: it failed in a
    full run, where an earlier test had drawn a bar, and passed alone. The bars keep working
    without the thread; the monitor only shortens the refresh of bars that print rarely.
    """
    from tqdm import tqdm

    interval = tqdm.monitor_interval
    tqdm.monitor_interval = 0
    yield
    tqdm.monitor_interval = interval


# --- the doctest namespace ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> str:
    """One example dataset for the doctests: nested layout, every modality and format, 2 samples."""
    from imgindex.examples import write_example_dataset

    root = tmp_path_factory.mktemp("example_dir")
    write_example_dataset(root, n_samples=2, extras=False)
    return str(root)


@pytest.fixture(autouse=True)
def _doctest_dirs(request, doctest_namespace):
    """``tmp_dir`` and ``example_dir`` in the namespace of the doctests that name them."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    source = "".join(example.source for example in request.node.dtest.examples)
    if "tmp_dir" in source:
        doctest_namespace["tmp_dir"] = str(request.getfixturevalue("tmp_path"))
    if "example_dir" in source:
        doctest_namespace["example_dir"] = request.getfixturevalue("example_dir")
    yield
    doctest_namespace.pop("tmp_dir", None)


# --- hooks ------------------------------------------------------------------------------------


def pytest_configure(config):
    GUARD.install()
    TMP.system_before = set(os.listdir(TMP.system))


def pytest_unconfigure(config):
    GUARD.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    GUARD.item, GUARD.item_is_slow = item, item.get_closest_marker("slow") is not None
    if isinstance(item, DoctestItem):
        TMP.doctests.add(item.nodeid)
    before = TMP.listing()
    try:
        return (yield)
    finally:
        for name in TMP.listing() - before:
            TMP.creator.setdefault(name, item.nodeid)
        GUARD.item = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "teardown":
        problems = [f"network access blocked: {what}" for nodeid, what in GUARD.blocked if nodeid == item.nodeid]
        problems += [
            f"started a program without @pytest.mark.slow: {what}"
            for nodeid, what in GUARD.spawned
            if nodeid == item.nodeid
        ]
        if problems and report.passed:
            report.outcome = "failed"
            report.longrepr = "\n".join(problems)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Collect what is left in the session's temporary directory, before pytest removes its base folder."""
    TMP.left = {name: TMP.creator.get(name, "(session fixtures)") for name in sorted(TMP.listing())}
    TMP.failed = bool(TMP.left)
    if (TMP.failed or any(nodeid is None for nodeid, _ in GUARD.blocked)) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _system_leftovers() -> list[str]:
    """New entries of the system temporary directory, pytest's own base folder aside when it is gone."""
    new = set(os.listdir(TMP.system)) - TMP.system_before
    if TMP.basetemp is not None and not TMP.basetemp.exists():
        new = {name for name in new if not name.startswith("pytest-of-")}
    return sorted(new)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    outside = [what for nodeid, what in GUARD.blocked if nodeid is None]
    if outside:
        tr.write_sep("=", "network access blocked outside a test (collection, session set-up)", red=True)
        for what in outside:
            tr.write_line(what)
    if TMP.left:
        title = f"{len(TMP.left)} entries left in the session's temporary directory ({TMP.private})"
        tr.write_sep("=", title, red=TMP.failed, yellow=not TMP.failed)
        for name, nodeid in sorted(TMP.left.items(), key=lambda entry: (entry[1], entry[0])):
            tr.write_line(f"{name}  (after {nodeid})")
        if TMP.failed:
            tr.write_line(
                "The session fails: tests write under tmp_path / tmp_path_factory, doctests under tmp_dir.", red=True
            )
    system_left = _system_leftovers()
    if system_left:
        tr.write_sep("=", f"new entries in {TMP.system} during the session (maybe another process's)", yellow=True)
        for name in system_left:
            tr.write_line(name)
