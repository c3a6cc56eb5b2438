"""A self-signed certificate for trying TLS locally (``make run-server``).

``python3 -m chat.server.selfsigned DIR`` makes ``DIR/cert.pem`` and
``DIR/key.pem`` (the key 0600) with the ``openssl`` command, once: files
already there are kept, so clients that trust ``cert.pem`` keep trusting
it. The certificate names ``localhost``, 127.0.0.1 and ::1, with an ECDSA
P-256 key (what Let's Encrypt issues by default: cheaper handshakes than RSA). Exit status 0
when both files are there, 1 (and one line on stderr saying why) when
they cannot be made, e.g. without ``openssl``: the server then runs with
plaintext only. For a real certificate see docs/tls.md.
"""

import os
import shutil
import subprocess
import sys

#: Days the certificate is valid (825: what browsers and Apple accept at most).
DAYS = 825
NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"


def ensure(directory):
    """Make the certificate and key in ``directory`` unless present; return
    None when they are there, else the reason they could not be made."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        return None
    openssl = shutil.which("openssl")
    if openssl is None:
        return "no openssl command to make a self-signed certificate"
    os.makedirs(directory, mode=0o700, exist_ok=True)
    old_umask = os.umask(0o077)   # the key is never readable by others, not even briefly
    try:
        result = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key,
             "-out", cert, "-days", str(DAYS), "-subj", "/CN=localhost", "-addext", NAMES],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return "openssl failed: %s" % exc
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        lines = (result.stderr or "").strip().splitlines()
        return "openssl failed: %s" % (lines[-1] if lines else "exit status %d" % result.returncode)
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python3 -m chat.server.selfsigned DIR", file=sys.stderr)
        return 2
    reason = ensure(argv[0])
    if reason is not None:
        print("chat.server: no TLS listener (plaintext only): %s" % reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
