"""A stand-in for Kaggle's API on 127.0.0.1, answering the official client's real requests.

    with FakeKaggle(zip_files={"train.parquet": ...}) as kaggle:       # serves on a free port
        point_client_at(kaggle.url, monkeypatch)                        # KAGGLE_API_ENVIRONMENT + kagglesdk's map
        ...
        kaggle.calls("CreateSubmission")                                # the JSON bodies the client sent

Requests are `POST /api/v1/<service>/<Method>` with JSON bodies (kagglesdk's KaggleHttpClient); replies are
built with kagglesdk's own response types, so their shapes are the client's. `fail` scripts errors: a
method name mapped to the HTTP statuses to answer before answering normally. Submissions are pending on
the first listing and complete (with their public score) afterwards. The server stops itself after
`lifetime_s` even if a test forgets to.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_MESSAGES = {401: "Unauthenticated", 403: "You must accept this competition's rules before you'll be able to "
                  "download files", 404: "Competition not found", 429: "Too many requests", 500: "Internal error"}


@dataclass
class Request:
    method: str  # HTTP method
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def rpc(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class State:
    zip_bytes: bytes = b""
    public_scores: dict[str, float] = field(default_factory=dict)  # submission description -> public score
    allowed_now: int = 5
    fail: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    listings: int = 0
    datasets: set[str] = field(default_factory=set)
    metrics: dict[str, str] = field(default_factory=dict)  # competition slug -> its evaluation metric (metadata)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _obj(cls_path: str, **values: Any) -> dict[str, Any]:
    """A kagglesdk response object as the service sends it (its to_dict: the JSON field names)."""
    module, name = cls_path.rsplit(".", 1)
    cls = getattr(__import__(f"kagglesdk.{module}", fromlist=[name]), name)
    obj = cls()
    for key, value in values.items():
        setattr(obj, key, value)
    return obj.to_dict()


class FakeKaggle:
    def __init__(self, *, zip_files: dict[str, bytes] | None = None, public_scores: dict[str, float] | None = None,
                 fail: dict[str, list[int]] | None = None, allowed_now: int = 5, lifetime_s: float = 120,
                 metrics: dict[str, str] | None = None):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in (zip_files or {}).items():
                archive.writestr(name, data)
        self.state = State(zip_bytes=buffer.getvalue(), public_scores=dict(public_scores or {}),
                           fail={k: list(v) for k, v in (fail or {}).items()}, allowed_now=allowed_now,
                           metrics=dict(metrics or {}))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.server.shutdown)

    def __enter__(self) -> FakeKaggle:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def calls(self, rpc: str) -> list[Request]:
        return [r for r in self.state.requests if r.rpc == rpc]

    @property
    def rpcs(self) -> list[str]:
        return [r.rpc for r in self.state.requests if r.path.startswith("/api/v1/")]


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, payload: Any = None, *, body: bytes | None = None,
                   content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
            data = body if body is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> Request:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length) if length else b"")
            with state.lock:
                state.requests.append(request)
            return request

        def do_GET(self) -> None:
            self._record()
            if self.path.startswith("/blobs/"):
                self._reply(200, body=state.zip_bytes, content_type="application/zip",
                            headers={"Last-Modified": "Mon, 23 Nov 2026 10:00:00 GMT"})
            else:
                self._reply(404, {"code": 404, "message": "not found"})

        def do_PUT(self) -> None:
            request = self._record()
            state.uploads[self.path.rsplit("/", 1)[-1]] = request.body
            self._reply(200, {})

        def do_POST(self) -> None:
            request = self._record()
            rpc = request.rpc
            with state.lock:
                scripted = state.fail.get(rpc)
                status = scripted.pop(0) if scripted else None
            if status is not None:
                self._reply(status, {"code": status, "message": ERROR_MESSAGES.get(status, "error")},
                            headers={"Retry-After": "0"} if status == 429 else None)
                return
            body = request.json()
            answer = getattr(self, f"rpc_{rpc}", None)
            if answer is None:
                self._reply(404, {"code": 404, "message": f"no such method {rpc}"})
                return
            answer(body)

        # --- competitions ---
        def rpc_DownloadDataFiles(self, body: dict) -> None:
            self.send_response(302)  # the service redirects to the archive's storage URL
            self.send_header("Location", f"/blobs/{body['competitionName']}.zip")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def rpc_ListCompetitions(self, body: dict) -> None:
            from kagglesdk.competitions.types.competition_api_service import (
                ApiCompetition,
                ApiListCompetitionsResponse,
            )

            found = []
            for slug, metric in state.metrics.items():
                if body.get("search", "") in slug:
                    competition = ApiCompetition()
                    competition.ref = f"https://www.kaggle.com/competitions/{slug}"
                    competition.evaluation_metric = metric
                    found.append(competition)
            response = ApiListCompetitionsResponse()
            response.competitions = found
            self._reply(200, response.to_dict())

        def rpc_GetSubmissionLimits(self, body: dict) -> None:
            self._reply(200, _obj("competitions.types.competition_api_service.ApiSubmissionLimits",
                                  num_today=5 - state.allowed_now, num_total=5 - state.allowed_now,
                                  num_allowed_now=state.allowed_now, limited_by_total=False))

        def _upload_slot(self, prefix: str) -> dict[str, str]:
            token = f"{prefix}-{len(state.uploads) + len(state.requests)}"
            return {"token": token, "createUrl": f"http://127.0.0.1:{self.server.server_address[1]}/upload/{token}"}

        def rpc_StartSubmissionUpload(self, body: dict) -> None:
            slot = self._upload_slot("sub")
            self._reply(200, _obj("competitions.types.competition_api_service.ApiStartSubmissionUploadResponse",
                                  token=slot["token"], create_url=slot["createUrl"]))

        def _new_submission(self, description: str) -> int:
            ref = 1000 + len(state.submissions)
            state.submissions.append({"ref": ref, "description": description})
            return ref

        def rpc_CreateSubmission(self, body: dict) -> None:
            ref = self._new_submission(body.get("submissionDescription", ""))
            self._reply(200, _obj("competitions.types.competition_api_service.ApiCreateSubmissionResponse",
                                  message="Successfully submitted", ref=ref))

        def rpc_CreateCodeSubmission(self, body: dict) -> None:
            ref = self._new_submission(body.get("submissionDescription", ""))
            self._reply(200, _obj("competitions.types.competition_api_service.ApiCreateCodeSubmissionResponse",
                                  message="Your submission was queued", ref=ref))

        def rpc_ListSubmissions(self, body: dict) -> None:
            from kagglesdk.competitions.types.submission_status import SubmissionStatus

            state.listings += 1
            scored = state.listings > 1  # pending when first listed, scored afterwards
            rows = []
            for sub in reversed(state.submissions):
                score = state.public_scores.get(sub["description"])
                rows.append(_obj("competitions.types.competition_api_service.ApiSubmission",
                                 ref=sub["ref"], description=sub["description"], file_name="submission.csv",
                                 status=SubmissionStatus.COMPLETE if scored else SubmissionStatus.PENDING,
                                 public_score=f"{score:.5f}" if scored and score is not None else "",
                                 private_score=""))
            self._reply(200, {"submissions": rows})

        def rpc_GetLeaderboard(self, body: dict) -> None:
            rows = [_obj("competitions.types.competition_api_service.ApiLeaderboardSubmission", team_id=i,
                         team_name=name, score=score)
                    for i, (name, score) in enumerate([("top team", "0.71234"), ("second", "0.70001")], start=1)]
            self._reply(200, {"submissions": rows})

        # --- datasets, blobs, kernels ---
        def rpc_GetDatasetStatus(self, body: dict) -> None:
            ref = f"{body['ownerSlug']}/{body['datasetSlug']}"
            if ref not in state.datasets:
                self._reply(404, {"code": 404, "message": "Dataset not found"})
                return
            self._reply(200, {"status": "READY"})

        def rpc_StartBlobUpload(self, body: dict) -> None:
            slot = self._upload_slot("blob")
            self._reply(200, _obj("blobs.types.blob_api_service.ApiStartBlobUploadResponse",
                                  token=slot["token"], create_url=slot["createUrl"]))

        def rpc_CreateDataset(self, body: dict) -> None:
            ref = f"{body['ownerSlug']}/{body['slug']}"
            state.datasets.add(ref)
            self._reply(200, _obj("datasets.types.dataset_api_service.ApiCreateDatasetResponse", ref=ref,
                                  url=f"https://www.kaggle.com/datasets/{ref}", status="ok"))

        def rpc_CreateDatasetVersion(self, body: dict) -> None:
            ref = f"{body['ownerSlug']}/{body['datasetSlug']}"
            self._reply(200, _obj("datasets.types.dataset_api_service.ApiCreateDatasetResponse", ref=ref,
                                  url=f"https://www.kaggle.com/datasets/{ref}", status="ok"))

        def rpc_SaveKernel(self, body: dict) -> None:
            self._reply(200, _obj("kernels.types.kernels_api_service.ApiSaveKernelResponse",
                                  ref=f"/code/{body['slug']}", url=f"https://www.kaggle.com/code/{body['slug']}",
                                  version_number=1))

        def rpc_GetKernelSessionStatus(self, body: dict) -> None:
            self._reply(200, {"status": "COMPLETE"})

    return Handler
