"""Kaggle through its official client (`kaggle` and its `kagglesdk`): files, submissions, scores, kernels.

    kaggle = KaggleSession(find_credentials())
    kaggle.download("wsdm-cup-multilingual-chatbot-arena", Path("data/wsdm"))
    kaggle.submissions_left(slug)                    # SubmissionLimits(allowed_now=4, today=1, ...)
    ref = kaggle.submit_file(slug, Path("runs/wsdm/.../submission.csv"), "lgbm")
    [s.public_score for s in kaggle.submissions(slug)]

Credentials, first found wins (the client's own order): KAGGLE_API_TOKEN (a token, or a file holding
one), KAGGLE_USERNAME with KAGGLE_KEY, then kaggle.json in KAGGLE_CONFIG_DIR, ~/.kaggle or
~/.config/kaggle. They are handed to the client in memory: never printed, logged or written; errors
name the source, never the value. The client is imported on first use with its import-time sign-in
kept away from the home folder (it would print help and create a config folder there).

The client retries lost connections and, for dataset uploads, 429s; our calls add a bounded retry on
429 and 5xx for requests that are safe to repeat (never for creating a submission).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from submit.kernel.errors import UserError

T = TypeVar("T")

TOKEN_HELP = "create an API token at https://www.kaggle.com/settings/api"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT_S = 30.0


class KaggleError(UserError, RuntimeError):
    """A Kaggle failure the user can act on; the message says what to do. `status`: the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class KaggleClientMissing(KaggleError):
    pass


@dataclass(frozen=True)
class Credentials:
    source: str  # where they were found, for messages: an environment variable's name or a file's path
    username: str | None = None
    key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def _kaggle_json_paths(env: dict[str, str], home: Path) -> list[Path]:
    if env.get("KAGGLE_CONFIG_DIR"):
        return [Path(env["KAGGLE_CONFIG_DIR"]) / "kaggle.json"]
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".kaggle" / "kaggle.json", xdg / "kaggle" / "kaggle.json"]


def find_credentials(env: dict[str, str] | None = None, home: Path | None = None,
                     warn: Callable[[str], None] = lambda _: None) -> Credentials:
    """The first credentials found, or a KaggleError listing every source tried and how to add one."""
    env = dict(os.environ if env is None else env)
    home = Path.home() if home is None else home
    tried = []
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token:
        if Path(token).is_file():  # the client accepts a path to a file holding the token too
            return Credentials("KAGGLE_API_TOKEN (file)", username=env.get("KAGGLE_USERNAME"),
                               token=Path(token).read_text(encoding="utf-8").strip())
        return Credentials("KAGGLE_API_TOKEN", username=env.get("KAGGLE_USERNAME"), token=token)
    tried.append("KAGGLE_API_TOKEN (not set)")
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return Credentials("KAGGLE_USERNAME/KAGGLE_KEY", username=env["KAGGLE_USERNAME"], key=env["KAGGLE_KEY"])
    tried.append("KAGGLE_USERNAME/KAGGLE_KEY (not both set)")
    for path in _kaggle_json_paths(env, home):
        if not path.is_file():
            tried.append(f"{path} (not found)")
            continue
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):  # the official client warns on the same bits
            warn(f"{path} is readable by other users of this machine; make it private: chmod 600 {path}")
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            return Credentials(str(path), username=str(content["username"]), key=str(content["key"]))
        except (ValueError, KeyError, TypeError):
            tried.append(f"{path} (not JSON with 'username' and 'key')")
    raise KaggleError(f"no Kaggle credentials found; tried: {'; '.join(tried)}. To fix: {TOKEN_HELP} and "
                      "export KAGGLE_API_TOKEN=<token> (with KAGGLE_USERNAME=<you> for uploads of bundles), or put "
                      "the legacy kaggle.json in ~/.kaggle/ with chmod 600")


@contextlib.contextmanager
def _isolated_import() -> Iterator[None]:
    """Import `kaggle` with no credentials, config folder or home in sight: its __init__ signs in at import
    (printing help, calling the service for a token, creating a config folder), which we do ourselves."""
    saved = {k: os.environ.get(k) for k in ("KAGGLE_CONFIG_DIR", "HOME", "KAGGLE_API_TOKEN", "KAGGLE_USERNAME",
                                            "KAGGLE_KEY")}
    with tempfile.TemporaryDirectory(prefix="kaggle-import-") as empty:
        os.environ.update({"KAGGLE_CONFIG_DIR": empty, "HOME": empty})
        for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
            os.environ.pop(name, None)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


CLIENT_MODULES = ("kaggle", "kagglesdk", "requests", "six")  # the kaggle extra, as the client imports it


def require_client() -> None:
    """Refuse, before anything is created or sent, when the kaggle extra is not installed."""
    missing = [name for name in CLIENT_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise KaggleClientMissing(f"the Kaggle commands need the kaggle extra (missing: {', '.join(missing)}); "
                                  "install it: pip install -e '.[kaggle]'")


def _kaggle_api_class() -> Any:
    require_client()
    try:
        with _isolated_import():
            from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as err:
        raise KaggleClientMissing(f"the official Kaggle client is not installed ({err}); install the extra: "
                                  "pip install -e '.[kaggle]'") from None
    return KaggleApi


@dataclass(frozen=True)
class SubmissionLimits:
    allowed_now: int
    today: int
    total: int
    limited_by_total: bool


@dataclass(frozen=True)
class RemoteSubmission:
    ref: str
    status: str  # pending | complete | error
    public_score: float | None
    private_score: float | None
    description: str
    date: str
    error: str


def _score(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _status_code(err: Exception) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _server_message(err: Exception) -> str:
    response = getattr(err, "response", None)
    try:
        return str(response.json().get("message", "")) if response is not None else ""
    except ValueError:
        return ""


def _retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    try:
        return float(response.headers["Retry-After"]) if response is not None else None
    except (KeyError, TypeError, ValueError):
        return None


class KaggleSession:
    """One signed-in client; every call maps the service's refusals onto messages that say what to do."""

    def __init__(self, credentials: Credentials, *, retries: int = 3, backoff_s: float = 2.0,
                 sleep: Callable[[float], None] | None = None):
        self.credentials = credentials
        self.retries, self.backoff_s = retries, backoff_s
        self.sleep = sleep or time.sleep
        self._client: Any = None

    @property
    def api(self) -> Any:
        if self._client is None:
            api = _kaggle_api_class()()
            c = self.credentials
            api.config_values = {k: v for k, v in {"username": c.username, "key": c.key, "token": c.token}.items()
                                 if v is not None}
            # The client reads KAGGLE_API_ENVIRONMENT once, when it is imported; read it per session instead.
            api.args = ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []
            self._client = api
        return self._client

    def _explain(self, err: Exception, what: str, slug: str | None) -> KaggleError:
        code = _status_code(err)
        said = _server_message(err)
        said = f" (Kaggle said: {said})" if said else ""
        source = self.credentials.source
        if code == 401:
            text = f"Kaggle refused the credentials from {source} (401 Unauthorized){said}; check them, or {TOKEN_HELP}"
        elif code == 403:
            fix = (f"accept the rules at https://www.kaggle.com/competitions/{slug}/rules with that account, then "
                   "run this again" if slug else "check that this account may do it")
            text = f"Kaggle answered 403 Forbidden for the account from {source}{said}; {fix}"
        elif code == 404:
            text = (f"Kaggle knows no competition '{slug}' (404 Not Found){said}; check the name (the slug in the "
                    "competition's URL)" if slug else f"not found on Kaggle (404){said}")
        elif code == 429:
            text = f"Kaggle is rate-limiting this account (429, {self.retries} tries){said}; wait a few minutes"
        elif code is not None:
            text = f"Kaggle answered {code}{said} ({self.retries} tries); try again later"
        else:
            text = f"cannot reach Kaggle ({type(err).__name__}: {err}); check the connection"
        return KaggleError(f"{what}: {text}", code)

    def _call(self, what: str, slug: str | None, fn: Callable[[], T], *, retry: bool = True) -> T:
        require_client()
        import requests

        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except (requests.RequestException, OSError) as err:
                code = _status_code(err)
                if retry and code in RETRY_STATUS and attempt < self.retries:
                    wait = _retry_after(err)
                    wait = self.backoff_s * 2 ** (attempt - 1) if wait is None else wait
                    self.sleep(min(wait, MAX_RETRY_WAIT_S))
                    continue
                raise self._explain(err, what, slug) from None
        raise AssertionError("unreachable")

    # --- competitions -----------------------------------------------------------------------------------

    def download(self, slug: str, dest: Path, *, quiet: bool = False) -> list[Path]:
        """The competition's files, unzipped into dest; returns the files written.

        Every entry of the archive is checked before any is unpacked, and they are unpacked into a temporary
        folder beside dest: dest changes only once all of them are there, so a refused or broken archive
        leaves nothing that looks downloaded."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}.download-", dir=dest.parent) as tmp:
            self._call(f"downloading {slug}", slug,
                       lambda: self.api.competition_download_files(slug, path=tmp, force=True, quiet=quiet))
            archives = list(Path(tmp).glob("*.zip"))
            if not archives:
                raise KaggleError(f"downloading {slug}: Kaggle sent no zip archive (got {os.listdir(tmp)})")
            unpacked = Path(tmp) / "files"
            try:
                with zipfile.ZipFile(archives[0]) as archive:
                    for member in archive.infolist():
                        if not (unpacked / member.filename).resolve().is_relative_to(unpacked.resolve()):
                            raise KaggleError(f"downloading {slug}: the archive holds an unsafe path "
                                              f"{member.filename!r} (outside the target folder); nothing was unpacked")
                    archive.extractall(unpacked)
            except zipfile.BadZipFile as err:
                raise KaggleError(f"downloading {slug}: the archive is damaged ({err}); download it again") from None
            files = sorted(p.relative_to(unpacked) for p in unpacked.rglob("*") if p.is_file())
            if dest.is_dir() and not any(dest.iterdir()):
                dest.rmdir()
            if not dest.exists():
                os.replace(unpacked, dest)  # one rename: the folder appears whole
            else:  # downloading again into a folder that holds files: each one replaced whole
                for name in files:
                    (dest / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(unpacked / name, dest / name)
        return [dest / name for name in files]

    def evaluation_metric(self, slug: str) -> str | None:
        """The competition's metric as its metadata names it (e.g. "RMSE", "CategorizationAccuracy"), or None
        when the listing does not give one."""
        found = self._call(f"reading the metadata of {slug}", slug, lambda: self.api.competitions_list(search=slug))
        for competition in getattr(found, "competitions", found) or []:
            if str(getattr(competition, "ref", "")).rstrip("/").rsplit("/", 1)[-1] == slug:
                return getattr(competition, "evaluation_metric", None) or None
        return None

    def submissions_left(self, slug: str) -> SubmissionLimits:
        limits = self._call(f"reading the submission limits of {slug}", slug,
                            lambda: self.api.competition_get_submission_limits(slug))
        return SubmissionLimits(int(limits.num_allowed_now or 0), int(limits.num_today or 0),
                                int(limits.num_total or 0), bool(limits.limited_by_total))

    def submit_file(self, slug: str, path: Path, message: str) -> str:
        """Upload a submission file (start upload, PUT the bytes, create the submission); returns its ref."""
        api = self.api
        response = self._call(f"submitting {path.name} to {slug}", slug,
                              lambda: api.competition_submit(str(path), message, slug, quiet=True), retry=False)
        if response.message == api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE or not response.ref:
            raise KaggleError(f"submitting {path.name} to {slug}: the upload did not complete "
                              f"({response.message or 'no submission was created'}); run the same command again")
        return str(response.ref)

    def submit_kernel(self, slug: str, kernel: str, version: int, message: str) -> str:
        """Submit a kernel version to a code competition; returns the submission's ref."""
        response = self._call(
            f"submitting {kernel} version {version} to {slug}", slug, retry=False,
            fn=lambda: self.api.competition_submit_code("submission.csv", message, slug, kernel=kernel,
                                                        kernel_version=version, quiet=True))
        if not response.ref:
            raise KaggleError(f"submitting {kernel} to {slug}: Kaggle created no submission ({response.message})")
        return str(response.ref)

    def submissions(self, slug: str) -> list[RemoteSubmission]:
        found = self._call(f"listing the submissions of {slug}", slug,
                           lambda: self.api.competition_submissions(slug, page_size=100)) or []
        return [RemoteSubmission(ref=str(s.ref), status=s.status.name.lower(), public_score=_score(s.public_score),
                                 private_score=_score(s.private_score), description=s.description or "",
                                 date=str(s.date or ""), error=s.error_description or "") for s in found if s]

    def leaderboard(self, slug: str) -> list[tuple[str, float]]:
        """The first page of the public leaderboard: (team, score), best first."""
        with contextlib.redirect_stdout(io.StringIO()):  # the client prints the next page's token
            rows = self._call(f"reading the leaderboard of {slug}", slug,
                              lambda: self.api.competition_leaderboard_view(slug)) or []
        return [(r.team_name, s) for r in rows if r and (s := _score(r.score)) is not None]

    # --- datasets and kernels (code competitions) --------------------------------------------------------

    def push_dataset(self, folder: Path, notes: str) -> str:
        """Create the dataset described by folder/dataset-metadata.json, or add a version when it exists."""
        api = self.api
        ref = json.loads((folder / "dataset-metadata.json").read_text(encoding="utf-8"))["id"]
        exists = True
        try:
            self._call(f"looking up dataset {ref}", None, lambda: api.dataset_status(ref))
        except KaggleError as err:
            if err.status != 404:
                raise
            exists = False
        if exists:
            response = self._call(f"adding a version to dataset {ref}", None, retry=False,
                                  fn=lambda: api.dataset_create_version(str(folder), notes, quiet=True))
        else:
            response = self._call(f"creating dataset {ref}", None, retry=False,
                                  fn=lambda: api.dataset_create_new(str(folder), public=False, quiet=True))
        if response.error:
            raise KaggleError(f"dataset {ref}: {response.error}")
        return ref

    def wait_dataset_ready(self, ref: str, timeout_s: float, poll_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            status = str(self._call(f"reading the status of dataset {ref}", None, lambda: self.api.dataset_status(ref)))
            if status.lower() == "ready":
                return
            if status.lower() in ("failed", "deleted"):
                raise KaggleError(f"Kaggle could not process dataset {ref} ({status}); see it on Kaggle")
            if time.monotonic() + poll_s > deadline:
                raise KaggleError(f"dataset {ref} is still '{status}' after {timeout_s:.0f} s; run the upload again "
                                  "later (the dataset is kept)")
            self.sleep(poll_s)

    def push_kernel(self, folder: Path) -> tuple[str, int]:
        """Save the notebook in folder (kernel-metadata.json beside it) as a new version; returns (ref, version)."""
        response = self._call(f"pushing the notebook in {folder}", None, retry=False,
                              fn=lambda: self.api.kernels_push(str(folder)))
        if response.error:
            raise KaggleError(f"pushing the notebook in {folder}: {response.error}")
        meta = json.loads((folder / "kernel-metadata.json").read_text(encoding="utf-8"))
        return meta["id"], int(response.version_number)

    def wait_kernel(self, kernel: str, timeout_s: float, poll_s: float) -> None:
        """Until the kernel's run finishes: a code competition takes a kernel version that has run."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self._call(f"reading the status of {kernel}", None, lambda: self.api.kernels_status(kernel))
            status = response.status.name.lower()
            if status == "complete":
                return
            if status in ("error", "cancel_requested", "cancel_acknowledged"):
                raise KaggleError(f"the notebook {kernel} failed on Kaggle ({status}: "
                                  f"{response.failure_message or 'no message'}); see its log on Kaggle")
            if time.monotonic() + poll_s > deadline:
                raise KaggleError(f"the notebook {kernel} is still {status} after {timeout_s:.0f} s; submit it "
                                  "when it has run: submit upload ... again")
            self.sleep(poll_s)
