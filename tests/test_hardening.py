"""Hardening: every input gets a located error or a clean result, never a traceback or a hang.

One section per class of problem: linear-time error hints, output files, over-long paths, huge
numbers in the report, misuse of the Python API, and includes of files that are not `.net` source.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import netdsl
from netdsl import parse
from netdsl.cli import main
from netdsl.errors import NetdslError, NetdslLimitError, UsageError

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run(args, capsys):
    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def netdsl_cmd(*args, timeout=60, **kw):
    """`python -m netdsl ARGS` from this checkout, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "netdsl", *args], capture_output=True, timeout=timeout,
                          env=ENV, **kw)


def test_imports_this_checkout():
    assert Path(netdsl.__file__).resolve().parent == ROOT / "netdsl"


# ------------------------------------------------------------------ 1. error hints in linear time

N = 60_000  # each of these took from 20 s to minutes with the quadratic search

SLOW_BEFORE = {
    "long_comment": "#" + "a" * N + "\nconv 3x3 x16 >> relu\n",
    "long_define_name": "define " + "a" * N + "(c) = 3x3:c\n>> relu\n",
    "long_identifier_then_error": "conv 3x3 x8 > " + "b" * N + " >> relu\n",
    "long_chain": "a>" * (N // 4) + ">\n",
    "long_digits_comment_then_colon": "#" + "1" * N + "x" + "1" * N + "\nrelu 3x3:\n",
    "long_dims_then_colon": "conv " + "3x" * (N // 2) + "3:\n",
    "long_whitespace": "relu" + " " * N + ">>\n",
    "long_paren_line": "(" * 2000 + "\n" + "a " * (N // 2) + "\n",
    "long_string": '"' + "a" * N + "\n",
    "keyword_after_letters": "#" + "z" * N + "\nif = relu\n",
}


@pytest.mark.parametrize("name", sorted(SLOW_BEFORE))
def test_long_inputs_fail_fast_with_a_located_error(name, tmp_path):
    """Run in a subprocess under a generous timeout: linear work finishes in about a second."""
    p = tmp_path / f"{name}.net"
    p.write_text(SLOW_BEFORE[name])
    res = netdsl_cmd("check", str(p), timeout=30)
    err = res.stderr.decode()
    assert res.returncode == 1, err[-2000:]
    assert re.match(rf"^{re.escape(str(p))}:\d+:\d+: error: ", err), err[:300]
    assert "Traceback" not in err


def test_hint_scans_are_linear_in_the_text():
    """The backward scans read each character a bounded number of times (counted, not timed)."""

    class Counting(str):
        reads = 0

        def __getitem__(self, i):
            Counting.reads += 1
            return str.__getitem__(self, i)

    for before in ("#" + "a" * 20_000 + "\nx ", "3x" * 10_000 + "3  ", " " * 20_000, "a" * 20_000):
        Counting.reads = 0
        parse._last_word(Counting(before))
        parse._ends_with_dims(Counting(before))
        assert Counting.reads <= 3 * len(before) + 10, (len(before), Counting.reads)


def test_hint_scans_agree_with_the_regular_expressions_they_replace():
    rng = random.Random(7)
    for _ in range(20_000):
        before = "".join(rng.choice("ax3_ \n(x9") for _ in range(rng.randint(0, 9)))
        m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", before)
        assert parse._last_word(before) == (m.group(1) if m else None), before
        assert parse._ends_with_dims(before) == bool(re.search(r"[0-9]+(x[0-9]+)+\s*$", before)), before


@pytest.mark.parametrize("text, hint", [
    ("conv 3x3: x16\n", "`3x3:64` is a convolution on its own"),
    ("#" + "7x7" * 5000 + "\nconv 3x3: x16\n", "`3x3:64` is a convolution on its own"),
    ("input = 3x3:16\n", "`input` is a keyword of the language and cannot name a stage"),
    ("#" + "input" * 5000 + "\ninput = 3x3:16\n", "`input` is a keyword of the language and cannot name a stage"),
    ("define f(c) = conv 3x3 x(c)\n", "`x64`-style arguments take digits only"),
])
def test_hints_still_given(text, hint):
    with pytest.raises(NetdslError) as e:
        netdsl.checks(text, name="h.net")
    assert hint in str(e.value)


# ------------------------------------------------------------------ 2. output files


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    """Nothing outside tmp_path may be replaced or created, whatever a bug would do."""
    real_replace, real_open = os.replace, os.open

    def replace(src, dst, *a, **kw):
        assert Path(dst).resolve().is_relative_to(tmp_path.resolve()), dst
        return real_replace(src, dst, *a, **kw)

    def open_(path, flags, *a, **kw):
        if flags & os.O_CREAT:
            assert Path(path).resolve().is_relative_to(tmp_path.resolve()), path
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line_usage_error(code, out, err, *words):
    assert code == 2, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("netdsl: ") and "Traceback" not in err
    for w in words:
        assert w in err, err


def test_refuses_a_device_node_through_a_link(guarded, capsys):
    link = guarded / "null.py"
    link.symlink_to(os.devnull)
    code, out, err = run(["compile", "lenet5", "-o", str(link)], capsys)
    _one_line_usage_error(code, out, err, "character device", "not a regular file")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode) and link.is_symlink()


@pytest.mark.parametrize("target", ["/dev/null", "/dev/full", "/dev/zero"])
def test_refuses_device_nodes(guarded, capsys, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target}")
    before = os.stat(target)
    code, out, err = run(["compile", "lenet5", "-o", target], capsys)
    _one_line_usage_error(code, out, err, "character device")
    after = os.stat(target)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_refuses_a_fifo_and_a_folder(guarded, capsys):
    fifo = guarded / "pipe.py"
    os.mkfifo(fifo)
    code, out, err = run(["compile", "lenet5", "-o", str(fifo)], capsys)
    _one_line_usage_error(code, out, err, "FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    (guarded / "d").mkdir()
    code, out, err = run(["compile", "lenet5", "-o", str(guarded / "d")], capsys)
    _one_line_usage_error(code, out, err, "folder")
    assert list((guarded / "d").iterdir()) == []


def test_refuses_the_input_file_itself(guarded, capsys):
    src = guarded / "my.net"
    src.write_text("input 3x8x8\nconv 3x3 x4 > relu\n")
    original = src.read_text()
    os.link(src, guarded / "hard.net")
    (guarded / "sym.py").symlink_to(src)
    for target in (str(src), "my.net", "./my.net", str(guarded / "hard.net"), "sym.py"):
        code, out, err = run(["compile", "my.net", "-o", target], capsys)
        _one_line_usage_error(code, out, err, "it is the input file")
        assert src.read_text() == original
    # a zoo network given by name is the input too
    zoo = ROOT / "networks" / "lenet5.net"
    zoo_text = zoo.read_text()
    code, out, err = run(["compile", "lenet5", "-o", str(zoo)], capsys)
    _one_line_usage_error(code, out, err, "it is the input file")
    assert zoo.read_text() == zoo_text


def test_empty_and_too_long_names(guarded, capsys):
    code, out, err = run(["compile", "lenet5", "-o", ""], capsys)
    _one_line_usage_error(code, out, err, "-o needs a file name")
    code, out, err = run(["compile", "lenet5", "-o", "a" * 300 + ".py"], capsys)
    _one_line_usage_error(code, out, err, "File name too long", "(303 characters)")
    code, out, err = run(["compile", "lenet5", "-o", "a/" * 3000 + "x.py"], capsys)
    _one_line_usage_error(code, out, err)
    assert len(err) < 300
    code, out, err = run(["compile", "lenet5", "-o", "missing/x.py"], capsys)
    _one_line_usage_error(code, out, err, "does not exist")
    assert sorted(os.listdir(guarded)) == []


def test_new_files_follow_the_umask(guarded, capsys):
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(mask)
        try:
            target = guarded / f"new{mask:o}.py"
            assert run(["compile", "lenet5", "-o", str(target)], capsys)[0] == 0
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(target).st_mode) == mode


@pytest.mark.parametrize("mode", [0o755, 0o644, 0o600, 0o640])
def test_replacing_keeps_the_permission_bits(guarded, capsys, mode):
    target = guarded / "x.py"
    target.write_text("old")
    os.chmod(target, mode)
    assert run(["compile", "lenet5", "-o", str(target)], capsys)[0] == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert target.read_text() == netdsl.compile("lenet5")


def test_read_only_target_is_treated_as_cp_treats_it(guarded, capsys):
    """A file the user may not write (444) is not replaced; root may write it, and it stays 444."""
    target = guarded / "ro.py"
    target.write_text("old")
    os.chmod(target, 0o444)
    code, out, err = run(["compile", "lenet5", "-o", str(target)], capsys)
    if os.access(target, os.W_OK):  # root
        assert code == 0 and target.read_text() == netdsl.compile("lenet5")
    else:
        _one_line_usage_error(code, out, err, "read-only", "not replaced")
        assert target.read_text() == "old"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o444
    assert [p.name for p in guarded.iterdir()] == ["ro.py"]


def test_read_only_target_is_not_replaced_for_a_user(guarded, capsys, monkeypatch):
    """As a user without write permission (simulated where the tests run as root)."""
    target = guarded / "ro.py"
    target.write_text("old")
    os.chmod(target, 0o444)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False)
    code, out, err = run(["compile", "lenet5", "-o", str(target)], capsys)
    monkeypatch.undo()
    _one_line_usage_error(code, out, err, "read-only (permission denied); not replaced")
    assert target.read_text() == "old" and stat.S_IMODE(os.stat(target).st_mode) == 0o444


def test_replacing_through_a_symlink_keeps_the_link(guarded, capsys):
    real = guarded / "real.py"
    real.write_text("old")
    link = guarded / "link.py"
    link.symlink_to(real)
    assert run(["compile", "lenet5", "-o", str(link)], capsys)[0] == 0
    assert link.is_symlink() and real.read_text() == netdsl.compile("lenet5")


@pytest.mark.parametrize("code_, strerror", [(errno.ENOSPC, "No space left on device"),
                                             (errno.EFBIG, "File too large"),
                                             (errno.EROFS, "Read-only file system"),
                                             (errno.EIO, "Input/output error")])
def test_write_errors_keep_the_old_file(guarded, capsys, monkeypatch, code_, strerror):
    target = guarded / "x.py"
    target.write_text("old")
    calls = []

    def failing_write(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(code_, os.strerror(code_))
        return real_write(fd, data[: len(data) // 2])  # a partial write first, then the failure

    real_write = os.write
    monkeypatch.setattr(os, "write", failing_write)
    code, out, err = run(["compile", "lenet5", "-o", str(target)], capsys)
    monkeypatch.undo()
    _one_line_usage_error(code, out, err, strerror, "the old file is kept")
    assert target.read_text() == "old"
    assert [p.name for p in guarded.iterdir()] == ["x.py"]


def test_read_only_folder(guarded, capsys, monkeypatch):
    def rofs(path, flags, *a, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(os, "open", rofs)
    code, out, err = run(["compile", "lenet5", "-o", str(guarded / "new.py")], capsys)
    monkeypatch.undo()
    _one_line_usage_error(code, out, err, "Read-only file system")
    assert list(guarded.iterdir()) == []


def test_file_size_limit_is_a_usage_error(tmp_path):
    """`ulimit -f`: the write fails with EFBIG (Python ignores SIGXFSZ); the old file is kept."""
    import resource

    target = tmp_path / "big.py"
    target.write_text("old")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    res = subprocess.run([sys.executable, "-m", "netdsl", "compile", "resnet50", "-o", str(target)],
                         capture_output=True, text=True, env=ENV, preexec_fn=limit, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"netdsl: cannot write {target}: File too large; the old file is "
                                               "kept"]
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["big.py"]


def test_temp_file_name_and_stale_temps(guarded, capsys):
    target = guarded / "out.py"
    prefix = ".out.py.netdsl-tmp-"
    dead = guarded / f"{prefix}{2**22 + 12345}"  # above any pid_max: no such process
    alive = guarded / f"{prefix}{os.getppid()}"
    other = guarded / ".other.py.netdsl-tmp-999999999"
    for p in (dead, alive, other):
        p.write_text("partial")
    assert run(["compile", "lenet5", "-o", str(target)], capsys)[0] == 0
    assert not dead.exists()  # a killed run's leftover, for this target
    assert alive.exists() and other.exists()  # a live writer's, and another target's
    assert target.read_text() == netdsl.compile("lenet5")


def test_temp_name_fits_for_a_long_target_name(guarded, capsys):
    name = "n" * 250 + ".py"
    assert run(["compile", "lenet5", "-o", name], capsys)[0] == 0
    assert os.listdir(guarded) == [name]


SLOW_WRITER = textwrap.dedent("""
    import os, sys, time
    from netdsl import cli
    real = cli._fill
    def slow(fd, data):
        real(fd, data[:100])
        open(sys.argv[2], "w").close()   # tell the test the temp file exists
        time.sleep(60)
    cli._fill = slow
    sys.exit(cli.main(["compile", "lenet5", "-o", sys.argv[1]]))
""")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130),
                                       (signal.SIGHUP, 128 + signal.SIGHUP)])
def test_signal_during_the_write_removes_the_temp_file(tmp_path, sig, code):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "x.py"
    target.write_text("old")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target), str(ready)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        temps = [p.name for p in out_dir.iterdir() if p.name != "x.py"]
        assert temps == [f".x.py.netdsl-tmp-{proc.pid}"]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert b"Traceback" not in err
    assert [p.name for p in out_dir.iterdir()] == ["x.py"] and target.read_text() == "old"


# ---- standard output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("args", [["check", "resnet18"], ["check", "resnet18", "--json"], ["compile", "resnet18"],
                                  ["compile", "lenet5", "-o", "-"], []])
def test_full_stdout_is_one_line(args):
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "netdsl", *args], stdout=full, stderr=subprocess.PIPE,
                             text=True, env=ENV, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["netdsl: cannot write to standard output: No space left on device"]


@pytest.mark.parametrize("args", [["check", "resnet152"], ["check", "resnet152", "--json"], ["compile", "resnet152"]])
def test_stdout_cut_short_by_the_file_size_limit_fails(args, tmp_path):
    """`ulimit -f`: standard output redirected to a file that may not grow past 2 KiB (the report is
    larger). It ended with status 0 and a file cut at 2 KiB."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    with open(tmp_path / "out.txt", "w") as out:
        res = subprocess.run([sys.executable, "-m", "netdsl", *args], stdout=out, stderr=subprocess.PIPE,
                             text=True, env=ENV, timeout=120, preexec_fn=limit)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["netdsl: cannot write to standard output: File too large"]


def test_closed_stdout_is_one_line():
    res = subprocess.run([sys.executable, "-m", "netdsl", "check", "lenet5"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=ENV, timeout=120,
                         preexec_fn=lambda: os.close(1))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["netdsl: cannot write to standard output: it is closed"]


@pytest.mark.parametrize("args", [["compile", "densenet201"], ["check", "densenet201", "--depth", "0"],
                                  ["check", "densenet201", "--json"]])
def test_broken_pipe_is_quiet(args):
    """The reader exits at once (`| head -c 10`): no message, the status of a SIGPIPE death."""
    proc = subprocess.Popen([sys.executable, "-m", "netdsl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert err == b""
    assert proc.returncode in (0, 141)  # 0 when everything fitted into the pipe before it closed


def test_broken_pipe_in_process(capsys, monkeypatch):
    class Broken:
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Broken())
    assert main(["check", "lenet5"]) == 141
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ 3. paths too long


@pytest.mark.parametrize("name", ["a" * 5000, "a/" * 3000, "x" * 256 + ".net", "d/" + "y" * 300 + "/z.net"])
def test_too_long_network_name_is_a_usage_error(capsys, name):
    code, out, err = run(["check", name], capsys)
    _one_line_usage_error(code, out, err)
    if len(name) > 1000:  # ENAMETOOLONG: the name is cut in the message
        assert len(err) < 400 and "File name too long" in err
    code, out, err = run(["compile", name], capsys)
    _one_line_usage_error(code, out, err)


@pytest.mark.parametrize("fn", [netdsl.check, netdsl.compile])
def test_too_long_name_in_the_api(fn):
    with pytest.raises(UsageError, match=r"File name too long"):
        fn("a" * 5000)


@pytest.mark.parametrize("stmt", ['include "' + "a" * 5000 + '.net"', 'include "' + "b/" * 2500 + 'c.net"',
                                  'extends "' + "a" * 300 + '.net"', "extends " + "z" * 5000])
def test_too_long_include_and_extends_are_located(stmt):
    with pytest.raises(NetdslLimitError) as e:
        netdsl.checks(stmt + "\nrelu\n", name="long.net")
    text = str(e.value)
    assert text.startswith("long.net:1:")
    assert len(text.splitlines()[0]) < 200


# ------------------------------------------------------------------ 4. huge numbers in the report


@pytest.mark.parametrize("n, div, text", [
    (0, 10**3, "0.00"), (1234, 10**3, "1.23"), (1235, 10**3, "1.24"), (1245, 10**3, "1.25"),
    (7065000, 10**6, "7.07"), (999_995, 10**3, "1000.00"), (10**400, 10**12, "1" + "0" * 388 + ".00"),
    (-1234, 10**3, "-1.23"), (3 * 2**30 // 2, 2**30, "1.50"),
])
def test_fixed_point_formatting_is_exact(n, div, text):
    from netdsl.report import _fixed2

    assert _fixed2(n, div) == text


def test_human_never_overflows():
    from netdsl.report import human, human_bytes

    assert human(10**400).endswith("T") and human_bytes(10**400).endswith(" GiB")
    assert human(25_557_032) == "25.56M" and human_bytes(102_760_448) == "98.00 MiB"


@pytest.mark.parametrize("args", [
    ["check", "resnet18", "--input", "3x" + "9" * 30 + "x" + "9" * 30],
    ["check", "resnet18", "--input", "3x" + "9" * 30 + "x" + "9" * 30, "--json"],
    ["check", "vgg16", "--input", "3x" + "7" * 29 + "x" + "7" * 29, "--batch", "1000000"],
    ["check", "resnet18", "-D", "classes=" + "9" * 200],
])
def test_huge_sizes_are_reported_exactly(capsys, args):
    code, out, err = run(args, capsys)
    assert code == 0, err
    if "--json" in args:
        doc = json.loads(out)
        assert doc["memory"]["forward_activation_bytes"] > 10**60
    else:
        assert "e+" not in out and "inf" not in out


@pytest.mark.parametrize("batch", ["1" + "0" * 310, "1000001", "0", "-5"])
def test_absurd_batch_is_a_usage_error(capsys, batch):
    code, out, err = run(["check", "resnet18", "--batch", batch], capsys)
    _one_line_usage_error(code, out, err, "--batch must be between 1 and 1,000,000")
    assert len(err) < 200


# ------------------------------------------------------------------ 5. the Python API


@pytest.mark.parametrize("fn", [netdsl.check, netdsl.compile, netdsl.load])
@pytest.mark.parametrize("value", [None, 123, 1.5, b"resnet18", ["resnet18"], ("resnet18",), "a\x00b"])
def test_api_bad_path_or_name(fn, value):
    with pytest.raises(UsageError, match=rf"^netdsl\.{fn.__name__}: "):
        fn(value)


def test_api_path_like_is_fine():
    assert netdsl.check(ROOT / "networks" / "lenet5.net").total.params == 61_706


@pytest.mark.parametrize("fn", [netdsl.checks, netdsl.compiles, netdsl.loads])
@pytest.mark.parametrize("value", [None, 123, b"relu", ["relu"], bytearray(b"relu")])
def test_api_bad_text(fn, value):
    with pytest.raises(UsageError, match=rf"^netdsl\.{fn.__name__}: expected .net source text \(a str\)"):
        fn(value)


def test_api_bad_name():
    with pytest.raises(UsageError, match=r"name must be a str"):
        netdsl.checks("relu", name=3)


@pytest.mark.parametrize("shape", [3, (None, 224, 224), ("3", "224", "224"), (3.0, 224.0, 224.0), (), (3, 224),
                                   (True, 224, 224), (0, 224, 224), (-3, 224, 224), (3, 224, 224, 1), "3x224x224",
                                   {3, 224}])
@pytest.mark.parametrize("fn", [netdsl.check, netdsl.compile, netdsl.load])
def test_api_bad_input_shape(fn, shape):
    with pytest.raises(UsageError) as e:
        fn("lenet5", input_shape=shape)
    assert str(e.value).startswith(f"netdsl.{fn.__name__}: input_shape must be a tuple of positive ints like "
                                   "(3, 224, 224)")
    assert repr(shape)[:20] in str(e.value)


def test_api_good_input_shapes():
    assert netdsl.check("resnet18", input_shape=[3, 64, 64]).net.input_shape == (3, 64, 64)
    r = netdsl.check("resnet18", input_shape=(3, 64, 64))
    assert isinstance(r.total.params, int)


@pytest.mark.parametrize("value", [None, [10], {"a": 1}, (10,), object(), float("nan"), float("inf"), 10**5000],
                         ids=["None", "list", "dict", "tuple", "object", "nan", "inf", "5000-digit int"])
def test_api_bad_override_values(value):
    with pytest.raises(UsageError, match=r"^netdsl\.check: .*classes"):
        netdsl.check("resnet18", classes=value)


@pytest.mark.parametrize("call", [lambda r: r.memory(0), lambda r: r.memory(1.5), lambda r: r.memory(True),
                                  lambda r: r.memory("8"), lambda r: r.training_bytes(None),
                                  lambda r: r.activation_bytes(-1), lambda r: r.memory(1, "fp8"),
                                  lambda r: r.activation_bytes(1, None), lambda r: r.memory(1, optimizer="lbfgs"),
                                  lambda r: r.memory(1, device="tpu")],
                         ids=["batch 0", "batch 1.5", "batch True", "batch '8'", "training batch None",
                              "activations batch -1", "dtype fp8", "activations dtype None", "optimizer", "device"])
def test_api_bad_memory_arguments(call):
    """The report's memory figures check their arguments (they raised TypeError/KeyError or returned floats)."""
    with pytest.raises(UsageError, match=r"^(batch|dtype|optimizer|device) must be "):
        call(netdsl.check("lenet5"))


@pytest.mark.parametrize(("kw", "words"), [({"depth": 0}, "depth must be"), ({"depth": 1.5}, "depth must be"),
                                          ({"depth": "2"}, "depth must be"), ({"depth": None}, "depth must be"),
                                          ({"depth": True}, "depth must be"), ({"direction": "XX"}, "direction must"),
                                          ({"direction": None}, "direction must")])
def test_api_bad_draw_arguments(kw, words):
    """As `netdsl draw` refuses them (depth 0, -1 and 1.5 drew a diagram; "2" raised TypeError)."""
    with pytest.raises(UsageError, match=rf"^netdsl\.draw: {words}"):
        netdsl.draw("lenet5", **kw)
    with pytest.raises(UsageError, match=r"^format must be one of svg, dot, mermaid, found 'png'"):
        netdsl.draw("lenet5").render("png")


@pytest.mark.parametrize(("short", "name"), [("bf16", "bfloat16"), ("fp16", "float16"), ("half", "float16"),
                                             ("fp32", "float32"), ("double", "float64")])
def test_short_dtype_names_are_torchs_dtypes(short, name, capsys):
    r = netdsl.check("resnet18")
    m = r.memory(8, short)
    assert (m.dtype, m.peak) == (name, r.memory(8, name).peak)
    assert r.activation_bytes(2, short) == r.activation_bytes(2, name)
    code, out, _ = run(["check", "resnet18", "--json", "--dtype", short, "--batch", "8"], capsys)
    mem = json.loads(out)["memory"]
    assert code == 0 and mem["dtype"] == name and mem["training"]["autocast"] == (name in ("float16", "bfloat16"))
    assert mem["training"]["peak_bytes"] == m.peak


@pytest.mark.parametrize("value, params", [(10, 11_181_642), ("10", 11_181_642), (10**40, None)])
def test_api_good_override_values(value, params):
    r = netdsl.check("resnet18", classes=value)
    assert params is None or r.total.params == params


def test_api_override_of_no_parameter_is_said_in_api_terms():
    with pytest.raises(UsageError, match=r"^netdsl\.checks: classes: the network has no parameter `classes`"):
        netdsl.checks("relu", classes=3)


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("device, words", [
    ("nosuchdev", "is not a device torch knows"),
    (2.5, "device must be a str"), (True, "device must be a str"), ([0], "device must be a str"),
])
@pytest.mark.parametrize("fn, arg", [(netdsl.load, "lenet5"), (netdsl.loads, "input 1x8x8\nconv 3x3 x4\n")])
def test_api_bad_device(fn, arg, device, words):
    _torch()
    with pytest.raises(UsageError, match=rf"^netdsl\.{fn.__name__}: .*{re.escape(words)}"):
        fn(arg, device=device)


def test_api_cuda_without_cuda():
    torch = _torch()
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        with pytest.raises(UsageError, match=r"there (is 1 CUDA device|are \d+ CUDA devices)"):
            netdsl.load("lenet5", device=f"cuda:{n}")
    else:
        for dev in ("cuda", "cuda:0", "cuda:3"):
            with pytest.raises(UsageError, match=r"no CUDA device is available"):
                netdsl.load("lenet5", device=dev)


def test_api_meta_and_cpu_devices_build():
    _torch()
    assert type(netdsl.load("lenet5", device="meta")).__name__ == "LeNet5"
    assert type(netdsl.load("lenet5", device="cpu")).__name__ == "LeNet5"


@pytest.mark.parametrize("classes", [10**40, 10**19])
def test_api_layer_too_large_for_a_tensor_is_located(classes):
    _torch()
    for device in (None, "meta"):
        with pytest.raises(NetdslLimitError) as e:
            netdsl.load("resnet18", classes=classes, device=device)
        text = str(e.value)
        assert text.startswith("resnet18.net:18:6: error: layer `fc` of resnet18 has ")
        assert "2**63 - 1" in text


def test_api_weights_larger_than_memory_are_refused_before_allocation():
    _torch()
    with pytest.raises(NetdslLimitError) as e:
        netdsl.load("resnet18", classes=10**12)  # 2 PB of float32 weights
    text = str(e.value)
    assert text.startswith("resnet18.net:18:6: error: resnet18 has 513,000,011,176,512 parameters")
    assert "more than this machine's" in text
    # on the meta device nothing is allocated: the module can be inspected
    model = netdsl.load("resnet18", classes=10**12, device="meta")
    assert model.fc.weight.shape == (10**12, 512)


def test_api_loads_overflow_too():
    _torch()
    with pytest.raises(NetdslLimitError, match=r"^big\.net:3:1: error: layer"):
        netdsl.loads("network big(c=1)\ninput 4\nlinear c\n", name="big.net", c=10**30)


# ------------------------------------------------------------------ 6. include / extends of non-.net files


@pytest.mark.parametrize("stmt", ['include "/etc/passwd"', 'include "/etc/hostname"', 'extends "/etc/passwd"',
                                  'include "secret.txt"', 'extends "secret"', 'include "secret.net.bak"'])
def test_non_net_files_are_not_read_nor_shown(tmp_path, capsys, monkeypatch, stmt):
    monkeypatch.chdir(tmp_path)
    secret = "hunter2-do-not-show"
    for name in ("secret.txt", "secret", "secret.net.bak"):
        (tmp_path / name).write_text(f"{secret}\n{secret}: x\n")
    (tmp_path / "main.net").write_text(stmt + "\ninput 3x8x8\nrelu\n")
    code, out, err = run(["check", "main.net"], capsys)
    assert code == 1
    assert err.startswith("main.net:1:")
    assert "is not a .net file" in err
    assert secret not in err and "root:" not in err


def test_include_of_a_folder_still_says_folder(tmp_path):
    (tmp_path / "lib").mkdir()
    with pytest.raises(NetdslError, match=r'cannot include "lib": \S*lib is a folder'):
        netdsl.checks('include "lib"\nrelu\n', name=str(tmp_path / "main.net"))


def test_include_of_net_files_is_unchanged(tmp_path):
    (tmp_path / "blocks.NET").write_text("define blk(c) = 3x3:c > relu\n")
    (tmp_path / "main.net").write_text('include "blocks.NET"\ninput 3x8x8\nblk(4)\n')
    assert netdsl.check(tmp_path / "main.net").total.params == 3 * 9 * 4 + 4


# ------------------------------------------------------------------ 7. torch is an optional extra

NO_TORCH = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # `import torch` fails as where it is not installed
    import netdsl
    from netdsl.errors import UsageError
    assert netdsl.check("resnet18").total.params == 11_689_512
    assert "class ResNet18" in netdsl.compile("resnet18")
    try:
        netdsl.load("lenet5")
    except UsageError as e:
        print(e)
""")


def test_check_and_compile_without_torch():
    res = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "netdsl.load needs PyTorch, an optional extra of netdsl: pip install 'netdsl[torch]'"


def test_the_command_ends_at_once_and_loses_no_output(tmp_path, capsys):
    """`netdsl` ends with os._exit (cli.console) once `main` has flushed: what it wrote through a
    pipe, to stderr and to -o is all there, and the exit status is main's."""
    assert main(["compile", "resnet152"]) == 0
    expected = capsys.readouterr().out
    res = netdsl_cmd("compile", "resnet152")
    assert res.returncode == 0 and res.stdout.decode() == expected and len(expected) > 5_000
    res = netdsl_cmd("compile", "resnet152", "-o", str(tmp_path / "r.py"))
    assert res.returncode == 0 and (tmp_path / "r.py").read_text() == expected
    res = netdsl_cmd("check", str(tmp_path / "missing.net"))
    assert res.returncode == 2 and res.stderr.decode().startswith("netdsl: no such file or zoo network")


# ------------------------------------------------------------------ 8. runs of separators, memory per byte


@pytest.mark.parametrize("filler", ["\n", "\r\n", ";", ";\n", "# c\n", "  \n\t", "; # c\n"])
def test_separator_runs_take_memory_linear_in_the_text(filler):
    """A MiB of blank lines, comment lines or `;`: one token per run, a small multiple of the text in memory
    (the old newline pattern kept ~300 bytes of backtracking state per line: 2.4 GB for 4 MiB)."""
    import tracemalloc

    text = "input 3x8x8\nrelu" + filler * (2**20 // len(filler)) + "\nrelu\n"
    tracemalloc.start()
    try:
        program = parse.parse(text, "runs.net")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * len(text), (filler, peak)  # was ~300x for the newline runs
    assert len(program.stmts) == 3


@pytest.mark.parametrize("item", ["a", "relu", "conv 3x3 x8", "3x3:8", "f(1)", "seq<relu>", "(relu)"])
@pytest.mark.parametrize("sep", [" > ", "\n", "; "])
def test_a_file_writing_more_items_than_the_layer_limit_stops_while_read(item, sep):
    """Each written layer, call and block counts against the layer limit as it is parsed: 4 MiB of
    `a>a>...` (2M layers) stops after 200,001 of them instead of parsing them all (17 s before)."""
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end

    text = "network n\ninput 3x8x8\ndefine f(k) = relu\n" + sep.join([item] * 6) + "\n"
    with pytest.raises(NetdslLimitError) as e:
        front_end(text, "w.net", limits=Limits(max_layers=5))
    err = e.value
    assert err.message == "the file writes more than 5 layers, calls and blocks; the limit is 5"
    assert err.hint == ("every layer, call, block and tensor name written counts, in defines too; raise the limit "
                        "with --max-layers (or NETDSL_MAX_LAYERS) if this is intended")
    # located at the sixth count: the define's `relu` is the first; a block counts with its `relu`
    per_item = 2 if "<" in item else 1
    nth = (6 - 1 + per_item - 1) // per_item  # the item on line 4 that holds the sixth count
    if sep == "\n":
        assert err.span.line == 3 + nth
    else:
        assert err.span.line == 4
        start = len(sep.join([item] * (nth - 1))) + (len(sep) if nth > 1 else 0) + 1
        assert start <= err.span.col < start + len(item)


def test_the_written_item_bound_is_the_layer_limit_and_counts_defines():
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end

    text = "input 3x8x8\ndefine f(k) = relu > relu\nrelu > relu > relu\n"
    assert front_end(text, "w.net", limits=Limits(max_layers=5)).total.layers == 3
    with pytest.raises(NetdslLimitError, match="writes more than 4 layers"):
        front_end(text, "w.net", limits=Limits(max_layers=4))  # 5 written, 3 expanded


def test_the_written_item_bound_applies_to_included_files(tmp_path):
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end_file

    (tmp_path / "lib.net").write_text("define f(k) = relu > relu > relu > relu\n")
    (tmp_path / "main.net").write_text('include "lib.net"\ninput 3x8x8\nrelu\n')
    with pytest.raises(NetdslLimitError) as e:
        front_end_file(tmp_path / "main.net", limits=Limits(max_layers=3))
    assert e.value.span.file.endswith("lib.net") and (e.value.span.line, e.value.span.col) == (1, 36)


def test_comment_lines_before_a_continuation_still_continue():
    r = netdsl.checks("input 3x8x8\nrelu\n# a comment\n\n  # another\n> relu\n", name="c.net")
    assert len(r.net.op_nodes()) == 2


def test_blanked_comments_keep_every_position():
    text = 'include "a#b.net" # comment "with quotes"\r\nrelu # x\n'
    blanked = parse.blank_comments(text)
    assert blanked == 'include "a#b.net" ' + " " * len('# comment "with quotes"\r') + "\nrelu " + " " * 3 + "\n"
    assert len(blanked) == len(text)


@pytest.mark.parametrize("where", ["pipeline.front_end_file", "pipeline.generate"])
def test_out_of_memory_is_one_line_and_keeps_the_old_file(guarded, capsys, monkeypatch, where):
    """A MemoryError (an input too large for `ulimit -v`) is reported as one line, exit 2, not a traceback;
    the file given with -o is not touched."""
    import importlib

    module, name = where.split(".")

    def exhausted(*a, **kw):
        raise MemoryError

    monkeypatch.setattr(importlib.import_module(f"netdsl.{module}"), name, exhausted)
    target = guarded / "x.py"
    target.write_text("old")
    for args in (["check", "lenet5"], ["compile", "lenet5", "-o", str(target)]):
        code, out, err = run(args, capsys)
        if name == "generate" and args[0] == "check":
            assert code == 0
            continue
        _one_line_usage_error(code, out, err, "out of memory", "`ulimit -v`")
    assert target.read_text() == "old" and [p.name for p in guarded.iterdir()] == ["x.py"]


def test_errors_after_long_runs_are_located():
    with pytest.raises(NetdslError) as e:
        netdsl.checks("input 3x8x8\n" + "# c\n" * 50_000 + ";" * 50_000 + "\nrelu >>\n", name="r.net")
    assert str(e.value).startswith("r.net:50003:7: error: unexpected `>`")


# ------------------------------------------------------------------ 9. recursion and the layer / step limits

RECURSIONS = {
    "distinct_values": "define f(n, k) = if n == 0 then relu else f(n - 1, k * 2) > f(n - 1, k * 2 + 1)\nf(40, 1)",
    "distinct_values_in_channels": "define f(n, k) = if n == 0 then conv 1x1 out=(k % 7 + 1) else f(n - 1, k * 2) "
                                   "> f(n - 1, k * 2 + 1)\nf(40, 1)",
    "tensor_arguments": "define f(t, n) = if n == 0 then relu else add<f(t, n - 1) | f(t, n - 1)>\na = relu\nf(a, 40)",
    "through_a_default": "define g(n, k=n) = if k == 0 then relu else g(n - 1) > g(n - 1)\ng(40)",
    "two_defines": "define f(n, c) = if n == 0 then relu else g(n, c + 1) > g(n, c + 2)\n"
                   "define g(n, c) = f(n - 1, c * 3)\nf(40, 1)",
    "no_layers": "define f(n, k) = if n == 0 then id else f(n - 1, k * 2) > f(n - 1, k * 2 + 1)\nrelu > f(40, 1)",
    "repeats_of_id": "((id) x100000) x100000",
    "repeat_of_a_call": "define f(k) = relu > relu\nf(3) x100000 > f(4) x100000 > f(5) x100000",
}


@pytest.mark.parametrize("name", sorted(RECURSIONS))
def test_exploding_expansions_are_refused_at_once(name):
    t0 = time.perf_counter()
    with pytest.raises(NetdslLimitError) as e:
        netdsl.checks("input 3x8x8\n" + RECURSIONS[name] + "\n", name="r.net")
    assert time.perf_counter() - t0 < 5  # about 0.1 s; minutes (or forever) before
    assert re.match(r"r\.net:\d+:1: error: the (network expands to at least [\d,]+ layers|expansion takes more "
                    r"than [\d,]+ steps)", str(e.value)), str(e.value)


def test_relevant_parameters():
    from netdsl import link
    from netdsl.limits import relevant_params

    prog = parse.parse("define f(n, k, c, w) = if n == 0 then 3x3:w else g(n - 1, k) * k > f(n - 1, c, c, w + 1)\n"
                       "define g(a, b=a) = if b >= 3 then relu else conv 1x1 out=(a)\n", "p.net")
    linked = link.link(prog, parse.sources.SourceMap({"p.net": ""}))
    rel = relevant_params(linked.defines)
    assert rel == {"f": frozenset({"n", "k", "c"}), "g": frozenset({"a", "b"})}  # not w: channels only


def test_limits_allow_what_they_say():
    """The same recursions under the limit still expand, exactly."""
    r = netdsl.checks("input 3x8x8\ndefine f(n, k) = if n == 0 then conv 1x1 out=(k % 5 + 1) else "
                      "f(n - 1, k * 2) > f(n - 1, k * 2 + 1)\nf(8, 1)\n", name="ok.net")
    assert len(r.net.op_nodes()) == 256


# ------------------------------------------------------------------ 10. layers x statements


def test_freeze_cost_does_not_grow_with_repeated_names(monkeypatch):
    from netdsl import layout

    calls = []
    real = layout._prefixes
    monkeypatch.setattr(layout, "_prefixes", lambda p: calls.append(p) or real(p))
    text = "input 3x8x8\ns2 = " + " > ".join(["relu"] * 300) + "\nfreeze " + ", ".join(["s2"] * 5000) + "\n"
    r = netdsl.checks(text, name="f.net")
    assert len(calls) == 300  # once per layer, whatever the number of names
    assert r.total.trainable == 0


def test_many_defaults_lines_keep_one_value_per_argument():
    from netdsl import link

    text = "defaults conv bias=false bn\n" * 1000 + "defaults conv bias=true\ninput 3x8x8\nconv 3x3 p1 x4 *50\n"
    linked = link.link(parse.parse(text, "d.net"), parse.sources.SourceMap({"d.net": text}))
    assert [(a.kind, a.name) for a in linked.defaults["conv"]] == [("flag", "bn"), ("kw", "bias")]
    r = netdsl.checks(text, name="d.net")
    assert r.total.params == 3 * 9 * 4 + 4 + 8 + 49 * (4 * 9 * 4 + 4 + 8)


# ------------------------------------------------------------------ 11. depth-first passes and deep nesting


def test_deep_recursion_checks_and_compiles():
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end, generate

    old = sys.getrecursionlimit()
    text = "input 3x8x8\ndefine f(n) = if n == 0 then relu else relu > f(n - 1)\nf(400)\n"
    r = front_end(text, "deep.net", limits=Limits(max_depth=1000))
    assert len(r.net.op_nodes()) == 401
    assert "class F" in generate(r)
    assert sys.getrecursionlimit() == old
    nested = "input 3x8x8\ndefine f(n) = if n == 0 then relu else " + "seq<" * 8 + "f(n - 1)" + ">" * 8 + "\nf(63)\n"
    assert "class F" in netdsl.compiles(nested, name="nested.net")


def test_lowering_walks_the_scope_tree_once(monkeypatch):
    """The lowering reads each scope's op nodes from one depth-first walk, not a walk of the scope's
    subtree at each use (the square of the nesting depth: 900 nested define calls took seconds)."""
    from netdsl import ir
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end, generate

    text = "input 3x8x8\ndefine f(n) = if n == 0 then relu else seq<relu > f(n - 1)>\nf(300)\n"
    r = front_end(text, "deep.net", limits=Limits(max_depth=1000))
    visits = [0]
    real = ir.Scope.nodes

    def counting(self):
        for x in real(self):
            visits[0] += 1
            yield x

    monkeypatch.setattr(ir.Scope, "nodes", counting)
    source = generate(r)
    assert "class F" in source
    assert visits[0] <= 10 * len(r.net.op_nodes()), visits[0]  # 227,556 before


def test_nesting_beyond_the_limit_is_located():
    text = "input 3x8x8\ndefine f(n) = if n == 0 then relu else relu > f(n - 1)\nf(3000)\n"
    from netdsl.limits import Limits
    from netdsl.pipeline import front_end

    with pytest.raises(NetdslLimitError, match=r"^deep\.net:2:\d+: error: define calls and blocks nested more than "
                                               r"2,000 deep"):
        front_end(text, "deep.net", limits=Limits(max_depth=100_000))


# ------------------------------------------------------------------ 12. links, environment


def test_net_link_to_another_file_is_not_read(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-do-not-show\n")
    (tmp_path / "lib.net").symlink_to(secret)
    (tmp_path / "main.net").write_text('include "lib.net"\ninput 3x8x8\nrelu\n')
    for args in (["check", "main.net"], ["check", "lib.net"]):
        code, out, err = run(args, capsys)
        assert code in (1, 2) and "hunter2" not in err
        assert "is a link to a file whose name does not end in .net" in err
    (tmp_path / "loop.net").symlink_to(tmp_path / "loop.net")
    (tmp_path / "main.net").write_text('include "loop.net"\ninput 3x8x8\nrelu\n')
    code, out, err = run(["check", "main.net"], capsys)
    assert code == 1 and err.startswith("main.net:1:1: error: cannot include")
    code, out, err = run(["check", "loop.net"], capsys)
    _one_line_usage_error(code, out, err)


@pytest.mark.parametrize("var", ["NETDSL_MAX_FILE_BYTES", "NETDSL_MAX_LAYERS", "NETDSL_MAX_DEPTH"])
@pytest.mark.parametrize("value", ["abc", "-5", "1e9", "0"])
def test_bad_environment_limits_are_usage_errors(var, value, capsys, monkeypatch):
    monkeypatch.setenv(var, value)
    code, out, err = run(["check", "lenet5"], capsys)
    _one_line_usage_error(code, out, err, var)


@pytest.mark.parametrize("args", [["check", "lenet5", "--depth", "-1"], ["diff", "lenet5", "lenet5", "--depth", "-3"],
                                  ["check", "lenet5", "--depth", "two"]])
def test_negative_row_depth_is_a_usage_error(args, capsys):
    """--depth -1 printed every row as 0 does."""
    code, out, err = run(args, capsys)
    _one_line_usage_error(code, out, err, "--depth: expected a whole number >= 0")


@pytest.mark.parametrize(("env", "args", "given"), [({}, ["--max-depth", "2001"], "--max-depth 2001"),
                                                   ({"NETDSL_MAX_DEPTH": "100000"}, [], "NETDSL_MAX_DEPTH=100000")])
def test_max_depth_is_at_most_the_fixed_nesting_bound(env, args, given, capsys, monkeypatch):
    """A define recursion deeper than the scope nesting bound would stop there anyway, with another message."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = run(["check", "lenet5", *args], capsys)
    _one_line_usage_error(code, out, err, given)
    assert "at most 2,000 deep" in err
    monkeypatch.delenv("NETDSL_MAX_DEPTH", raising=False)
    code, out, err = run(["check", "lenet5", "--max-depth", "2000"], capsys)
    assert code == 0


def test_environment_is_read_at_use_not_at_import():
    res = subprocess.run([sys.executable, "-c", "import netdsl.sources, netdsl.cli"], capture_output=True, text=True,
                         env={**ENV, "NETDSL_MAX_FILE_BYTES": "abc"}, timeout=60)
    assert res.returncode == 0, res.stderr


# ------------------------------------------------------------------ 13. user names apart from generated names

# Each program names something as generated code names its own things: the input `x` of every forward,
# the helpers (`Join`, `sample_columns`, `DropPath`, `drop_path_mean`, `LayerNorm2d`), the imports and
# the weight loader, the factory (a define parameter named like the network), the namedtuple's fields.
GENERATED_NAMES = {
    "network_x": ("network x\ninput 3x8x8\nconv 3x3 x4 > relu > conv 3x3 x4\n", "a.net"),
    "file_x": ("input 3x8x8\nconv 3x3 x4 > relu\n", "x.net"),
    "define_param_named_like_the_network": ("network t(c=4)\ninput 3x8x8\ndefine a(t, c) = conv 3x3 p1 out=(c * t) "
                                            "> relu\na(1, c) > a(2, 4)\n", "a.net"),
    "network_Join": ("network Join\ninput 3x8x8\njoin(droppath=0.1)<conv 3x3 p1 x3 | id> > conv 3x3 x4\n", "a.net"),
    "define_Join_with_global_droppath": ("input 3x8x8\ndefine join_(c) = join(droppath=0.1, global_droppath=0.5)<"
                                         "conv 3x3 p1 out=(c) | id>\ndefine Join(c) = join_(c)\nJoin(3) > Join(3)\n",
                                         "a.net"),
    "stage_sample_columns": ("network n\ninput 3x8x8\nsample_columns = join(global_droppath=0.5)<conv 3x3 p1 x3 | "
                             "id>\nrelu\n", "a.net"),
    "define_DropPath": ("input 3x8x8\ndefine DropPath(c) = residual(droppath=0.1)<conv 3x3 p1 out=(c)>\n"
                        "DropPath(3) > DropPath(3)\n", "a.net"),
    "network_drop_path_mean": ("network drop_path_mean\ninput 3x8x8\nresidual(droppath=0.2)<conv 3x3 p1 x3> > "
                               "mean<id | relu>\n", "a.net"),
    "define_LayerNorm2d": ("input 3x8x8\ndefine LayerNorm2d(c) = conv 1x1 out=(c) > layernorm\n"
                           "LayerNorm2d(4) > LayerNorm2d(4)\n", "a.net"),
    "network__load_weights": ("network _load_weights\ninput 3x8x8\nconv 3x3 x4\n", "a.net"),
    "network_OrderedDict": ("network OrderedDict\ninput 3x8x8\nconv 3x3 x4 @\"a-b\" > relu\n", "a.net"),
    "aux_main": ("input 3x8x8\nconv 3x3 x4\naux main = gap > flatten > linear 3\ngap > flatten > linear 5\n",
                 "a.net"),
    "aux_logits": ("input 3x8x8\nconv 3x3 x4\naux logits = gap > flatten > linear 3\ngap > flatten > linear 5\n",
                   "a.net"),
}


@pytest.mark.parametrize("name", sorted(GENERATED_NAMES))
def test_user_names_never_clash_with_generated_names(name):
    """Compiled, executed as a module, built and run in training and in evaluation: no NameError,
    no helper replaced by a user's class, no duplicate namedtuple field."""
    torch = _torch()
    text, file = GENERATED_NAMES[name]
    source = netdsl.compiles(text, name=file)
    namespace: dict = {}
    exec(compile(source, file, "exec"), namespace)  # noqa: S102 - our own generated code
    defined = re.findall(r"^(?:class|def) (\w+)", source, re.M)
    assert len(defined) == len(set(defined)), sorted(defined)  # one definition per module-level name
    model = netdsl.loads(text, name=file).train()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 8, 8))
        outs = out if isinstance(out, tuple) else (out,)
        assert all(o.shape[0] == 2 for o in outs)
        model.eval()
        assert model(torch.zeros(2, 3, 8, 8)).shape[0] == 2
