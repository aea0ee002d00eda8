"""What StackStorm's oslo.config returns for [auth] backend_kwargs, for each given st2.conf text.

usage: python -m tests.st2_probes.oslo_conf   (StackStorm's virtualenv)
stdin: one JSON string (an st2.conf text) per line; stdout: one line per input,
{"value": str} or {"error": str}, flushed, so a test can ask many questions of one process.

st2auth's own options are registered (st2auth/config.py, [auth] host, port, mode, ...) and each
text is parsed with oslo.config exactly as st2auth parses /etc/st2/st2.conf.
"""

import json
import os
import sys
import tempfile


def main():
    from oslo_config import cfg
    from st2auth import config as st2auth_config
    st2auth_config.register_opts(ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "st2.conf")
        for line in sys.stdin:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.loads(line))
            try:
                cfg.CONF(args=[], default_config_files=[path])
                result = {"value": cfg.CONF.auth.backend_kwargs}
            except Exception as error:  # what st2auth would die of, by name
                result = {"error": "%s: %s" % (type(error).__name__, error)}
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
