#!/usr/bin/env python3
"""Drives `lathe chat` through a pseudo-terminal, as a person at a keyboard would.

usage: chat_pty.py LATHE MODEL
Types two messages, /reset, one more message, then Ctrl-D; prints everything the terminal showed.
Exits non-zero when a step times out or lathe does not exit cleanly.
"""
import os
import pty
import select
import sys
import time

lathe, model = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(lathe, [lathe, "chat", "-m", model, "-n", "6", "--temp", "0", "-c", "256", "-t", "2"])

transcript = b""


def read_until_prompt(timeout=120.0):
    """Reads until lathe prints its '> ' prompt at the start of a line."""
    global transcript
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if fd in ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            transcript += chunk
            if transcript.endswith(b"> "):
                return True
    return False


steps = []
ok = read_until_prompt()
steps.append(("startup", ok))
for message in [b"Hello there", b"Tell me more", b"/reset", b"Again"]:
    if not ok:
        break
    os.write(fd, message + b"\n")
    ok = read_until_prompt()
    steps.append((message.decode(), ok))
if ok:
    os.write(fd, b"\x04")  # Ctrl-D
_, status = os.waitpid(pid, 0)
sys.stdout.write(transcript.decode("utf-8", "replace"))
sys.stdout.write("\n--- steps: %s\n" % steps)
if not ok or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    sys.stdout.write("--- failed (status %d)\n" % status)
    sys.exit(1)
