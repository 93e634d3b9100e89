"""An HTTP controller for the `http` driver that hands each action to a command adapter (argv[2:]).

`python adapter_controller.py PORT_FILE CMD...` listens on a free loopback port, writes the port to
PORT_FILE, and answers `POST /icssim/<action>` with what the command prints for that request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Controller(BaseHTTPRequestHandler):
    adapter: list[str] = []  # (not "command": the handler keeps the HTTP method there)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.path.startswith("/icssim/"):
            self.send_error(404)
            return
        # the run's facts arrive as headers (docs/driver-contract.md); the adapter reads them from its environment
        env = {**os.environ, "ICSSIM_TRADER_URL": self.headers.get("Icssim-Trader-Url", ""),
               "ICSSIM_PKI_DIR": self.headers.get("Icssim-Pki-Dir", "")}
        done = subprocess.run(self.adapter, input=body, capture_output=True, env=env, check=False)
        sys.stderr.write(done.stderr.decode("utf-8", "replace"))
        status = 200 if done.returncode == 0 else 500
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(done.stdout)))
        self.end_headers()
        self.wfile.write(done.stdout)

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    Controller.adapter = sys.argv[2:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Controller)
    Path(sys.argv[1]).write_text(str(server.server_address[1]), encoding="utf-8")
    server.serve_forever()


if __name__ == "__main__":
    main()
