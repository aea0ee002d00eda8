"""Write the st2.conf, logging config and htpasswd of the install check (tests/st2_install/run.sh).

usage: python make_conf.py RUN_DIR ST2CHECK PORT
The settings are a stock StackStorm install's (/etc/st2/st2.conf of the packages) where they
matter to the checks: auth on with the flat-file backend (htpasswd, bcrypt as `htpasswd -B`),
`[system] base_path = /opt/stackstorm`, packs in /opt/stackstorm/packs, the datastore key, secrets
masked in logs; MongoDB (mongomock) and RabbitMQ (st2tests' mocks) are replaced in the process.
"""

import os
import sys

import bcrypt

USER, PASSWORD = "st2admin", "Ch@ngeMe-st2install"

CONF = """\
[api]
host = 127.0.0.1
port = {port}
logging = {run}/logging.conf
mask_secrets = True
allow_origin = http://127.0.0.1:{port}

[stream]
logging = {run}/logging.conf

[auth]
enable = True
mode = standalone
backend = flat_file
backend_kwargs = {{"file_path": "{run}/htpasswd"}}
logging = {run}/logging.conf
api_url = http://127.0.0.1:{port}/api
use_ssl = False

[database]
db_name = st2-install-check

[messaging]
url = memory://

[coordination]
url =

[system]
base_path = /opt/stackstorm
validate_output_schema = False

[content]
system_packs_base_path = {st2check}/src/st2/contrib
packs_base_paths = /opt/stackstorm/packs
# the pack index of the operator's mirror (the web UI's Packs view is empty when no index
# answers: it lists the installed packs together with the index's)
index_url = http://127.0.0.1:{port}/_check/mirror/index.json

[actionrunner]
virtualenv_binary = {st2check}/venv/bin/virtualenv
python_binary = {st2check}/venv/bin/python3

[keyvalue]
encryption_key_path = {run}/datastore_key.json

[log]
excludes = requests,paramiko
redirect_stderr = False
mask_secrets = True

[system_user]
user = root
"""

LOGGING = """\
[loggers]
keys=root

[handlers]
keys=fileHandler

[formatters]
keys=simple

[logger_root]
level=INFO
handlers=fileHandler

[handler_fileHandler]
class=st2common.log.FormatNamedFileHandler
level=INFO
formatter=simple
args=("{run}/st2.log",)

[formatter_simple]
format=%(asctime)s %(levelname)s [-] %(message)s
datefmt=
"""


def main(run, st2check, port):
    with open(os.path.join(run, "st2.conf"), "w") as f:
        f.write(CONF.format(run=run, st2check=st2check, port=port))
    with open(os.path.join(run, "logging.conf"), "w") as f:
        f.write(LOGGING.format(run=run))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    with open(os.path.join(run, "htpasswd"), "w") as f:
        f.write("%s:%s\n" % (USER, hashed))


if __name__ == "__main__":
    main(*sys.argv[1:4])
