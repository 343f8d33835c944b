"""Registry client details: mirrors, token auth for push and catalog, Hub search API shape,
redirects that must not carry credentials to another host."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from tests.engine.imagebuilder import skopeo_copy
from tests.engine.regserver import free_port
from toolkit.engine.httpclient import Client

pytestmark = pytest.mark.engine


def test_docker_hub_names_go_to_the_mirror(fresh_registry, busybox_layout, tke, tke_root):
    skopeo_copy(f"oci:{busybox_layout}:latest", f"docker://{fresh_registry.host}/library/busybox:1")
    (tke_root / "config.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{fresh_registry.host}"]})
    )
    rc, out, err = tke("pull", "busybox:1")
    assert rc == 0, err
    assert "1: Pulling from library/busybox" in out
    assert out.strip().endswith("docker.io/library/busybox:1")
    rc, out, _ = tke("images", "--format", "{{.Repository}} {{.Tag}}")
    assert out == "busybox 1\n"
    assert tke("rmi", "docker.io/library/busybox:1")[0] == 0


def test_token_auth_push_and_catalog(token_registry, registry, tke):
    tke("pull", f"{registry.host}/busybox")
    target = f"{token_registry.host}/team/bb:1"
    tke("tag", f"{registry.host}/busybox", target)
    rc, _, err = tke("push", target)
    assert rc != 0 and "unauthorized" in err
    assert (
        tke("login", "-u", "alice", "-p", token_registry.users["alice"], token_registry.host)[0]
        == 0
    )
    rc, _, err = tke("push", target)
    assert rc == 0, err
    rc, out, err = tke("search", f"{token_registry.host}/team")
    assert rc == 0, err
    assert f"{token_registry.host}/team/bb" in out
    scopes = [s for r in token_registry.token.requests for s in r["scope"]]
    assert "repository:team/bb:pull,push" in scopes and "registry:catalog:*" in scopes


class _Recorder(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        target = self.server.redirect_to
        if target and self.path.startswith("/start"):
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"payload"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _server(redirect_to=None):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Recorder)
    httpd.seen, httpd.redirect_to = [], redirect_to
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_redirect_to_other_host_drops_credentials():
    storage = _server()
    # "localhost:PORT" is another host than "127.0.0.1:PORT" for the credential rule
    other = f"http://localhost:{storage.server_address[1]}/blob"
    same = _server()
    registry = _server(redirect_to=other)
    try:
        host = f"127.0.0.1:{registry.server_address[1]}"
        resp = Client().request("GET", f"http://{host}/start", {"Authorization": "Bearer t0ken"})
        assert resp.read() == b"payload"
        assert registry.seen == [("/start", "Bearer t0ken")]
        assert storage.seen == [("/blob", None)]
        registry.redirect_to = f"http://{host}/final"
        resp = Client().request("GET", f"http://{host}/start", {"Authorization": "Bearer t0ken"})
        assert resp.read() == b"payload"
        assert registry.seen[-1] == ("/final", "Bearer t0ken")
    finally:
        for srv in (storage, same, registry):
            srv.shutdown()
            srv.server_close()


def test_hub_search_api_shape(tke, tke_root):
    class Hub(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            assert self.path.startswith("/v1/search?q=nginx&n=25")
            body = json.dumps(
                {
                    "num_results": 2,
                    "query": "nginx",
                    "results": [
                        {
                            "name": "nginx",
                            "description": "Official build of Nginx.",
                            "star_count": 4379,
                            "is_official": True,
                            "is_automated": False,
                        },
                        {
                            "name": "someone/nginx-proxy",
                            "description": "x" * 80,
                            "star_count": 12,
                            "is_official": False,
                            "is_automated": True,
                        },
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        (tke_root / "config.json").write_text(
            json.dumps({"index-server": f"http://127.0.0.1:{httpd.server_address[1]}"})
        )
        rc, out, err = tke("search", "nginx")
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
        assert lines[1].split()[:1] == ["nginx"] and lines[1].split()[-2:] == ["4379", "[OK]"]
        assert lines[2].split()[-2:] == ["12", "[OK]"] and "…" in lines[2]
        rc, out, _ = tke(
            "search",
            "--filter",
            "is-official=true",
            "--format",
            "{{.Name}}: {{.StarCount}}",
            "nginx",
        )
        assert out == "nginx: 4379\n"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pull_and_push_all_tags(fresh_registry, registry, tke):
    assert tke("pull", "-q", f"{registry.host}/busybox")[0] == 0
    repo = f"{fresh_registry.host}/all/bb"
    for tag in ("1", "2", "latest"):
        assert tke("tag", f"{registry.host}/busybox", f"{repo}:{tag}")[0] == 0
    rc, out, err = tke("push", "-a", repo)
    assert rc == 0, err
    assert out.count("The push refers to repository") == 1
    assert [line.split(":")[0] for line in out.splitlines() if ": digest: " in line] == [
        "1", "2", "latest",
    ]  # fmt: skip
    assert (
        tke("push", "-a", f"{repo}:1")[2].strip().endswith("tag can't be used with --all-tags/-a")
    )
    for tag in ("1", "2", "latest"):
        assert tke("rmi", f"{repo}:{tag}")[0] == 0
    rc, out, err = tke("pull", "-a", repo)
    assert rc == 0, err
    assert [line for line in out.splitlines() if "Pulling from" in line] == [
        "1: Pulling from all/bb", "2: Pulling from all/bb", "latest: Pulling from all/bb",
    ]  # fmt: skip
    assert out.splitlines()[-1] == repo
    rc, out, _ = tke("images", "--format", "{{.Tag}}", repo)
    assert sorted(out.split()) == ["1", "2", "latest"]
    rc, _, err = tke("pull", "-a", f"{fresh_registry.host}/all/none")
    assert rc == 1 and "Traceback" not in err
