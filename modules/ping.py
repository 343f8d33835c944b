"""Try to connect to a host and return `pong` (or `data`); `data=crash` raises, like Ansible."""

ARGUMENT_SPEC = {
    "data": {"type": "str", "default": "pong"},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True


def main(module):
    data = module.params["data"]
    if data == "crash":
        raise Exception("boom")
    return {"changed": False, "ping": data}
