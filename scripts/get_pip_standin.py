"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a site these
machines cannot reach. ansible-test runs it inside a fresh virtualenv with pip's install
arguments; bootstrap pip from the interpreter's own ensurepip, then install what was asked."""

import subprocess
import sys

DROPPED = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in DROPPED]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
