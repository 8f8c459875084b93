"""A stand-in for the Neutron API on 127.0.0.1:9696.

Servers boot with networks='none', so Nova only calls Neutron on delete and from periodic
tasks; answering every list with an empty list is enough. Runs under Debian's python3.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSIONS = {
    "versions": [
        {
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": "http://127.0.0.1:9696/v2.0/"}],
        }
    ]
}
LIST = re.compile(r"/v2\.0/([a-z_-]+?)(\.json)?$")


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path in ("", "/"):
            self._send(200, VERSIONS)
            return
        match = LIST.search(path)
        if match:
            self._send(200, {match.group(1).replace("-", "_"): []})
            return
        self._send(404, {"NeutronError": {"message": "not found"}})

    def do_PUT(self) -> None:
        self._send(200, {})

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        print(format % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 9696), Handler).serve_forever()
