"""Triton pieces that need no server: imports stay light, server lists, least-outstanding choice."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spine_rt.errors import InputError
from spine_rt.runtime.triton_servers import TritonServerPool, is_local, parse_servers


def test_imports_do_not_load_tritonclient_or_pytriton():
    code = ("import sys, spine_rt, spine_rt.serving as s, spine_rt.runtime as r, spine_rt.cli.main\n"
            "r.TritonRunner, r.TritonServerPool, s.write_triton_repository, s.TritonServerProcess\n"
            "heavy = sorted(m for m in ('tritonclient', 'pytriton', 'grpc', 'torch') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("text, message", [
    ("", "no Triton server"), ("localhost", "not HOST:PORT"), ("a:70000", "not HOST:PORT"),
    ("grpc://a:8001", "without a scheme"), ("a:1,a:1", "named twice")])
def test_bad_server_lists(text, message):
    with pytest.raises(InputError, match=message):
        parse_servers(text)


def test_server_list_and_locality():
    assert parse_servers(" a:8001, b:9001 ") == ("a:8001", "b:9001")
    assert is_local("127.0.0.1:8001") and is_local("localhost:1") and not is_local("10.0.0.5:8001")
    with pytest.raises(InputError, match="unknown Triton protocol"):
        TritonServerPool("a:1", protocol="udp")
    with pytest.raises(InputError, match="positive number of seconds"):
        TritonServerPool("a:1", timeout_s=0)


def test_least_outstanding_then_least_recently_used():
    pool = TritonServerPool("a:1,b:2,c:3")
    first, second = pool._acquire(), pool._acquire()
    assert {first.url, second.url} == {"a:1", "b:2"}  # a busy server is passed over
    pool._release(first)
    pool._release(second)
    third = pool._acquire()
    assert third.url == "c:3"  # never used: least recently started
    pool._release(third)
    assert pool._acquire().url == first.url  # then the one idle longest
