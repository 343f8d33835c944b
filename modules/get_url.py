"""Download a file over HTTP, HTTPS or FTP (or file://) to the target, verified by checksum."""

import base64
import hashlib
import os
import re
import shutil
import ssl
import tempfile
import time
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

from modules._utils import filemod

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "dest": {"type": "path", "required": True},
    "force": {"type": "bool", "default": False, "aliases": ["thirsty"]},
    "checksum": {"type": "str", "default": ""},
    "headers": {"type": "dict"},
    "timeout": {"type": "int", "default": 10},
    "validate_certs": {"type": "bool", "default": True},
    "url_username": {"type": "str", "aliases": ["username"]},
    "url_password": {"type": "str", "aliases": ["password"], "no_log": True},
    "force_basic_auth": {"type": "bool", "default": False},
    "use_proxy": {"type": "bool", "default": True},
    "http_agent": {"type": "str", "default": "ansible-httpget"},
    "backup": {"type": "bool", "default": False},
    "tmp_dest": {"type": "path"},
    "decompress": {"type": "bool", "default": True},
    "unredirected_headers": {"type": "list", "elements": "str", "default": []},
    "use_netrc": {"type": "bool", "default": True},
    "validate": {"type": "str"},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "unsafe_writes": {"type": "bool", "default": False},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = False
FREE_FORM = None

CHUNK = 64 * 1024


def main(module):
    p = module.params
    filemod.check_mode_value(module, p["mode"])
    algorithm, expected = parse_checksum(module, p["checksum"], p["url"])
    dest = p["dest"]
    result = {"url": p["url"], "dest": dest, "changed": False}
    dest_is_dir = os.path.isdir(dest)
    known = dest
    if dest_is_dir and expected:
        known = os.path.join(dest, _filename(None, p["url"]))
    if os.path.isfile(known) and (not dest_is_dir or expected):
        if not p["force"] and (not expected or _hash(known, algorithm) == expected):
            dest = result["dest"] = known
            result.update(_attrs_result(module, dest))
            if not result["changed"]:
                result["msg"] = "file already exists"
            return result
    start = time.time()
    tmp, info = download(module, p["url"], _tmp_dir(module))
    try:
        result["elapsed"] = int(time.time() - start)
        result["status_code"] = info["status"]
        if dest_is_dir:
            dest = os.path.join(dest, info["filename"])
            result["dest"] = dest
        result["checksum_src"] = filemod.sha1_of_file(tmp)
        result["size"] = os.path.getsize(tmp)
        if expected and _hash(tmp, algorithm) != expected:
            module.fail(
                "The checksum for %s did not match %s; it was %s."
                % (tmp, expected, _hash(tmp, algorithm)),
                **result,
            )
        _install(module, tmp, dest, result)
    finally:
        filemod.discard(tmp)
    result["msg"] = info.get("msg", "OK")
    return result


def _install(module, tmp, dest, result):
    p = module.params
    exists = os.path.exists(dest)
    if exists:
        result["checksum_dest"] = filemod.sha1_of_file(dest)
        if not os.access(dest, os.W_OK):
            module.fail("Destination %s is not writable" % dest, **result)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        module.fail("Destination %s does not exist" % os.path.dirname(dest), **result)
    if result.get("checksum_dest") != result["checksum_src"]:
        result["changed"] = True
        if not module.check_mode:
            if p["backup"] and exists:
                result["backup_file"] = filemod.backup_file(module, dest)
            filemod.write_file(module, dest, src=tmp, validate_cmd=p["validate"], move_src=True)
    if os.path.exists(dest):
        attrs = _attrs_result(module, dest)
        attrs_changed = attrs.pop("changed")
        result.update(attrs)
        result["changed"] = result["changed"] or attrs_changed
    result["checksum_dest"] = (
        result["checksum_src"] if result["changed"] else result.get("checksum_dest")
    )


def _attrs_result(module, dest):
    p = module.params
    changed = filemod.apply_attributes(module, dest, p["mode"], p["owner"], p["group"])
    info = filemod.path_info(dest)
    info.pop("path", None)
    info["changed"] = changed
    return info


def _tmp_dir(module):
    tmp_dest = module.params["tmp_dest"]
    if tmp_dest:
        if not os.path.isdir(tmp_dest):
            module.fail("tmp_dest %s is not a directory" % tmp_dest)
        return tmp_dest
    dest = module.params["dest"]
    if module.check_mode:
        return module.tmpdir
    directory = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    if os.path.isdir(directory) and os.access(directory, os.W_OK):
        return directory  # same filesystem: the final rename is atomic and cheap
    return module.tmpdir


def _hash(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_checksum(module, checksum, url):
    """(algorithm, expected hex digest) from 'sha256:HEX' or 'sha256:URL-of-a-sums-file'."""
    if not checksum:
        return "sha1", None
    algorithm, sep, value = checksum.partition(":")
    algorithm = algorithm.strip().lower()
    if not sep or algorithm not in hashlib.algorithms_available:
        module.fail(
            "The checksum parameter has to be in format <algorithm>:<checksum>, "
            "with an algorithm among %s" % ", ".join(sorted(hashlib.algorithms_guaranteed))
        )
    value = value.strip()
    if "://" in value:
        value = _checksum_from_url(module, value, url)
    value = value.lower()
    if not re.match(r"^[0-9a-f]+$", value):
        module.fail("The checksum format is invalid: %s" % checksum)
    return algorithm, value


def _checksum_from_url(module, sums_url, url):
    """The digest for url's file name in a sums file ('HEX  NAME' lines) or a lone digest."""
    tmp, _ = download(module, sums_url, module.tmpdir)
    with open(tmp, "r") as fh:
        lines = [line.split() for line in fh.read().splitlines() if line.strip()]
    filemod.discard(tmp)
    name = os.path.basename(urlparse.urlsplit(url).path)
    if len(lines) == 1 and len(lines[0]) == 1:
        return lines[0][0]
    for parts in lines:
        if len(parts) >= 2 and parts[1].lstrip("*").lstrip("./") == name:
            return parts[0]
    module.fail("Unable to find a checksum for file '%s' in '%s'" % (name, sums_url))


def _request(module, url):
    p = module.params
    headers = dict((str(k), str(v)) for k, v in (p["headers"] or {}).items())
    headers.setdefault("User-Agent", p["http_agent"])
    if p["url_username"] is not None:
        token = "%s:%s" % (p["url_username"], p["url_password"] or "")
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode("ascii")
    request = urlrequest.Request(url, headers=headers)
    handlers = []
    if not p["use_proxy"]:
        handlers.append(urlrequest.ProxyHandler({}))
    if not p["validate_certs"]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        handlers.append(urlrequest.HTTPSHandler(context=context))
    return urlrequest.build_opener(*handlers), request


def download(module, url, directory):
    """Stream url into a temp file in `directory`; (path, {status, msg, filename})."""
    scheme = urlparse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "ftp", "file"):
        module.fail("unsupported URL scheme %r in %s" % (scheme, url), url=url)
    opener, request = _request(module, url)
    try:
        response = opener.open(request, timeout=module.params["timeout"])
    except urlerror.HTTPError as exc:
        body = exc.read(4096).decode("utf-8", "replace")
        module.fail(
            "Request failed: HTTP Error %d: %s" % (exc.code, exc.reason),
            status_code=exc.code,
            response=body,
            url=url,
        )
    except (urlerror.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        module.fail("Request failed: %s" % reason, status_code=-1, url=url)
    fd, tmp = tempfile.mkstemp(prefix=".tk-get_url-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except (OSError, ValueError) as exc:
        filemod.discard(tmp)
        module.fail("failed to read %s: %s" % (url, exc), url=url)
    finally:
        response.close()
    status = getattr(response, "status", None) or response.getcode() or 200
    info = {
        "status": status,
        "msg": "OK (%d bytes)" % os.path.getsize(tmp),
        "filename": _filename(response, url),
    }
    return tmp, info


def _filename(response, url):
    """The name a directory dest gets: Content-Disposition's filename, else the URL's."""
    headers = getattr(response, "headers", None)
    disposition = headers.get("Content-Disposition") if headers else None
    if disposition:
        match = re.search(r'filename\s*=\s*"?([^";]+)"?', disposition)
        if match:
            name = os.path.basename(match.group(1).strip())
            if name not in ("", ".", ".."):
                return name
    name = os.path.basename(urlparse.unquote(urlparse.urlsplit(url).path))
    return name or "index.html"
