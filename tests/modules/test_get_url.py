"""get_url in-process against a real http.server on 127.0.0.1 (and file:// URLs)."""

import hashlib
import http.server
import os
import stat
import threading

import pytest

from modules._utils.testing import run_module

PAYLOAD = b"tk-payload\n" * 5000


class Handler(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        Handler.hits.append((self.path, dict(self.headers)))
        routes = {
            "/file.tar": (200, PAYLOAD, {}),
            "/SHA256SUMS": (
                200,
                f"{hashlib.sha256(PAYLOAD).hexdigest()}  file.tar\n".encode(),
                {},
            ),
            "/named": (200, b"named\n", {"Content-Disposition": 'attachment; filename="r.txt"'}),
            "/secret": (200, b"ok\n", {})
            if self.headers.get("X-Token") == "t0k"
            else (403, b"denied", {}),
        }
        status, body, headers = routes.get(self.path, (404, b"not found", {}))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_download_then_already_exists(server, tmp_path):
    dest = tmp_path / "file.tar"
    args = {"url": server + "/file.tar", "dest": str(dest), "mode": "0600"}
    first = run_module("get_url", args)
    assert first["changed"] is True and first["status_code"] == 200, first
    assert dest.read_bytes() == PAYLOAD and stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600
    assert first["checksum_src"] == hashlib.sha1(PAYLOAD).hexdigest()
    assert first["size"] == len(PAYLOAD)
    hits = len(Handler.hits)
    second = run_module("get_url", args)
    assert second["changed"] is False and second["msg"] == "file already exists"
    assert len(Handler.hits) == hits  # no download at all
    forced = run_module("get_url", dict(args, force=True))
    assert forced["changed"] is False and len(Handler.hits) == hits + 1
    assert sorted(os.listdir(str(tmp_path))) == ["file.tar"]


def test_checksum_literal_and_from_url(server, tmp_path):
    good = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
    dest = tmp_path / "a"
    assert (
        run_module("get_url", {"url": server + "/file.tar", "dest": str(dest), "checksum": good})[
            "changed"
        ]
        is True
    )
    dest.write_bytes(b"tampered")
    again = run_module(
        "get_url", {"url": server + "/file.tar", "dest": str(dest), "checksum": good}
    )
    assert again["changed"] is True and dest.read_bytes() == PAYLOAD
    by_url = run_module(
        "get_url",
        {
            "url": server + "/file.tar",
            "dest": str(tmp_path / "b"),
            "checksum": "sha256:" + server + "/SHA256SUMS",
        },
    )
    assert by_url["changed"] is True and (tmp_path / "b").read_bytes() == PAYLOAD


def test_checksum_mismatch_fails_and_writes_nothing(server, tmp_path):
    dest = tmp_path / "c"
    result = run_module(
        "get_url",
        {"url": server + "/file.tar", "dest": str(dest), "checksum": "sha256:" + "0" * 64},
    )
    assert result["failed"] and "did not match" in result["msg"]
    assert os.listdir(str(tmp_path)) == []


def test_dest_directory_and_content_disposition(server, tmp_path):
    result = run_module("get_url", {"url": server + "/named", "dest": str(tmp_path)})
    assert (
        result["dest"] == str(tmp_path / "r.txt") and (tmp_path / "r.txt").read_text() == "named\n"
    )
    plain = run_module("get_url", {"url": server + "/file.tar", "dest": str(tmp_path)})
    assert plain["dest"] == str(tmp_path / "file.tar")


def test_headers_and_http_errors(server, tmp_path):
    denied = run_module("get_url", {"url": server + "/secret", "dest": str(tmp_path / "s")})
    assert denied["failed"] and denied["status_code"] == 403 and "403" in denied["msg"]
    ok = run_module(
        "get_url",
        {"url": server + "/secret", "dest": str(tmp_path / "s"), "headers": {"X-Token": "t0k"}},
    )
    assert ok["changed"] and (tmp_path / "s").read_text() == "ok\n"
    missing = run_module("get_url", {"url": server + "/nope", "dest": str(tmp_path / "n")})
    assert missing["failed"] and missing["status_code"] == 404
    assert not (tmp_path / "n").exists()


def test_check_mode_downloads_nothing_into_dest(server, tmp_path):
    dest = tmp_path / "f"
    result = run_module("get_url", {"url": server + "/file.tar", "dest": str(dest)}, check=True)
    assert result["changed"] is True and os.listdir(str(tmp_path)) == []


def test_file_url_and_backup(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("v1\n")
    dest = tmp_path / "dest.txt"
    dest.write_text("v0\n")
    result = run_module(
        "get_url", {"url": "file://" + str(src), "dest": str(dest), "force": True, "backup": True}
    )
    assert result["changed"] and dest.read_text() == "v1\n"
    assert open(result["backup_file"]).read() == "v0\n"


def test_bad_arguments(tmp_path):
    r = run_module(
        "get_url",
        {"url": "http://127.0.0.1:1/x", "dest": str(tmp_path / "x"), "checksum": "nohash"},
    )
    assert r["failed"] and "<algorithm>:<checksum>" in r["msg"]
    r = run_module("get_url", {"url": "gopher://x/y", "dest": str(tmp_path / "x")})
    assert r["failed"] and "scheme" in r["msg"]
    r = run_module(
        "get_url", {"url": "http://127.0.0.1:1/x", "dest": str(tmp_path / "x"), "timeout": 2}
    )
    assert r["failed"] and "Request failed" in r["msg"]
    r = run_module("get_url", {"ur": "http://x/", "dest": str(tmp_path / "x")})
    assert r["failed"] and "'url'" in r["msg"]
