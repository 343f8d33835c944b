"""W1 for pyinfra: the same 20 operations as w1.yml (bench/fleet.py; dest from --data dest=...)."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, python, server

HERE = Path(__file__).resolve().parent
dest = host.data.get("dest", "/srv/w1")

server.shell(name="ping", commands=["true"])
files.directory(name="base directory", path=dest, mode="755")
files.directory(name="data directory", path=f"{dest}/data", mode="750")
files.link(name="current link", path=f"{dest}/current", target=f"{dest}/data")
for i in range(1, 5):
    files.put(
        name=f"copy conf{i}",
        src=str(HERE / "files" / f"conf{i}.conf"),
        dest=f"{dest}/conf{i}.conf",
        mode="644",
    )
files.put(name="hostname file", src=StringIO(host.name + "\n"), dest=f"{dest}/hostname", mode="644")
LINES = [
    ("sysctl.conf", "net.core.somaxconn = 1024"),
    ("sysctl.conf", "vm.swappiness = 10"),
    ("sysctl.conf", "fs.file-max = 100000"),
    ("limits.conf", "* soft nofile 65536"),
    ("limits.conf", "* hard nofile 65536"),
]
for n, (name, text) in enumerate(LINES, 1):
    files.line(name=f"line {n}", path=f"{dest}/{name}", line=text, escape_regex_characters=True)
context = dict(inventory_hostname=host.name, app_dir=dest, app_port=8080, app_workers=4,
               app_peers=["alpha", "beta", "gamma"])  # fmt: skip
files.template(name="app template", src=str(HERE / "templates" / "app.conf.j2"),
               dest=f"{dest}/app.conf", mode="644", **context)  # fmt: skip
files.template(name="motd template", src=str(HERE / "templates" / "motd.j2"),
               dest=f"{dest}/motd", mode="644", **context)  # fmt: skip
server.shell(name="kernel release", commands=["uname -r"])
server.shell(name="read hostname file", commands=[f"cat {dest}/hostname"])
app_stat = host.get_fact(File, path=f"{dest}/app.conf")  # the stat (a fact in pyinfra)
python.call(name="report", function=lambda: print("app.conf:", (app_stat or {}).get("size")))
