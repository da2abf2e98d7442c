"""A tiny stand-in for Grafana's HTTP API on 127.0.0.1: the endpoints `dashboards.provision` calls,
answered the way Grafana answers them, with every request recorded.

It lets the real grafana-client (and its HTTP stack) run end to end without a Grafana server.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafana:
    token: str | None = None
    basic: tuple[str, str] | None = None
    requests: list[Recorded] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGrafana:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the test reads `requests`

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _authorised(self, header: str | None) -> bool:
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.basic is not None:
            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            return header == f"Basic {expected}"
        return False

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        auth = handler.headers.get("Authorization")
        self.requests.append(Recorded(method, handler.path, auth, body))
        if not self._authorised(auth):
            status, answer = 401, {"message": "Unauthorized"}
        else:
            status, answer = self._route(method, handler.path, body)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if (method, parts) == ("GET", ["api", "frontend", "settings"]):
            # grafana-client's health.check() reads the build info from here
            return 200, {"buildInfo": {"version": "11.4.0", "edition": "Open Source"}}
        if method == "GET" and parts[:2] == ["api", "folders"] and len(parts) == 3:
            found = self.folders.get(parts[2])
            return (200, found) if found else (404, {"message": "folder not found"})
        if (method, parts) == ("POST", ["api", "folders"]):
            if body["uid"] in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"]}
            return 200, self.folders[body["uid"]]
        if parts[:3] == ["api", "datasources", "uid"] and len(parts) == 4:
            return self._datasource_by_uid(method, parts[3], body)
        if (method, parts) == ("POST", ["api", "datasources"]):
            if body["uid"] in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            self.datasources[body["uid"]] = {**body, "id": len(self.datasources) + 1}
            return 200, {"message": "Datasource added", "datasource": body}
        if (method, parts) == ("POST", ["api", "dashboards", "db"]):
            return self._save_dashboard(body)
        return 404, {"message": "Not found"}

    def _datasource_by_uid(self, method: str, uid: str, body: Any) -> tuple[int, Any]:
        found = self.datasources.get(uid)
        if found is None:
            return 404, {"message": "Data source not found"}
        if method == "GET":
            return 200, found
        if found.get("readOnly"):
            return 403, {"message": "Cannot update read-only data source"}
        self.datasources[uid] = {**body, "id": found["id"]}
        return 200, {"message": "Datasource updated", "datasource": body}

    def _save_dashboard(self, body: Any) -> tuple[int, Any]:
        dashboard = body["dashboard"]
        if body.get("folderUid") not in self.folders:
            return 400, {"message": "folder not found"}
        known = self.dashboards.get(dashboard["uid"])
        if known is not None and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists"}
        version = 1 if known is None else known["version"] + 1
        self.dashboards[dashboard["uid"]] = {
            "dashboard": dashboard,
            "folderUid": body["folderUid"],
            "version": version,
        }
        uid = dashboard["uid"]
        return 200, {"status": "success", "uid": uid, "version": version, "url": f"/d/{uid}"}
