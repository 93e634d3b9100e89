"""A command adapter that lies to the harness in one way (LYING_ADAPTER_LIE), wrapping a real one (argv[1]).

Used by test_conformance_command_driver.py to show that verdicts rest on what the simulator saw:
  file-without-sending  answers `file` with ok and a MessageId, but sends nothing
  report-unfetched      adds to `received` a message it never fetched
  forget-received       leaves the first message out of `received`
  wrong-mrn             reports a wrong MRN for every message that carries one
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    raw = sys.stdin.read()
    request = json.loads(raw)
    lie = os.environ["LYING_ADAPTER_LIE"]
    if lie == "file-without-sending" and request["action"] == "file":
        json.dump({"ok": True, "message_id": "never-sent@lying.example", "lrn": request.get("lrn")}, sys.stdout)
        return 0
    inner = subprocess.run([sys.executable, sys.argv[1]], input=raw, capture_output=True, text=True, check=False)
    sys.stderr.write(inner.stderr)
    if inner.returncode != 0:
        return inner.returncode
    response = json.loads(inner.stdout)
    if request["action"] == "received" and response.get("ok"):
        messages = response["messages"]
        if lie == "report-unfetched":
            messages.append({"action": "IE3R01", "message_id": "invented@lying.example", "ref_to_message_id": None,
                             "mrn": None, "lrn": None})
        elif lie == "forget-received" and messages:
            messages.pop(0)
        elif lie == "wrong-mrn":
            for message in messages:
                if message.get("mrn"):
                    message["mrn"] = "24XX000000000000X0"
    json.dump(response, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
