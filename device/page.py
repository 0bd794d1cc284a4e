"""``hrmon device page``: the patient device as a local web page.

The patient picks a recording; it is analysed here, on the device (their own heart rate
and the model's score are shown to them: both are theirs), then bound-checked, encrypted
under the pinned system key, put in the device's outbox and sent to server A (while A is
away it stays in the outbox and goes out with the next reading, as with the CLI). The
page shows the exact request body that left the device: ciphertexts only. A "stream"
mode cuts a long recording into windows, as a wearable would, and sends one reading per
usable window with progress.

About 420 lines: the device page's routes, its background stream jobs and its CLI entry
share one small state object.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

import cli_help
from client import device_config
from client.device_config import DeviceConfig
from client.encrypt import EncodedReading, encrypt_reading
from client.errors import (
    AuthError,
    HrmonError,
    InputError,
    KeyMismatch,
    ServerUnavailable,
    run_command,
)
from client.web.basics import free_port, install_web_basics, make_templates, same_token, serve
from device import analysis
from device.cli import reading_from
from device.history import DeviceHistory, history_path
from device.outbox import Outbox, outbox_path
from device.sending import OutboxSender, deliver, keep
from protocol.messages import READING_CIPHERTEXTS

DEFAULT_PORT = 8766
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
AUDIO_SUFFIXES = (".wav", ".flac")
WINDOW_LIMITS_S = (3.0, 60.0)
DEFAULT_WINDOW_S = 10.0
MAX_JOBS = 20
SHOWN_CIPHERTEXT_CHARS = 32
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def shorten(ciphertext: str) -> str:
    """A ciphertext as the page shows it: its start and its length."""
    if len(ciphertext) <= SHOWN_CIPHERTEXT_CHARS:
        return ciphertext
    return f"{ciphertext[:SHOWN_CIPHERTEXT_CHARS]}… ({len(ciphertext)} characters)"


HISTORY_SHOWN = 10


def shown_body(body: dict[str, Any]) -> dict[str, str]:
    """The request body of ``POST /v1/readings`` with its ciphertexts shortened for display."""
    return {
        key: shorten(str(value)) if key in READING_CIPHERTEXTS else str(value)
        for key, value in body.items()
    }


def send_problem(exc: HrmonError) -> str:
    """What to tell the patient when a reading could not be delivered."""
    if isinstance(exc, ServerUnavailable):
        return f"Server A cannot be reached, so the reading was not delivered: {exc}"
    if isinstance(exc, AuthError):
        return (
            "Server A refused this device's credential; ask your physician for a new "
            "device file. The reading is kept on this device, not sent."
        )
    if isinstance(exc, KeyMismatch):
        return f"Nothing was sent (the reading is kept on this device): {exc}"
    return f"Server A refused the reading: {exc}"


@dataclass
class WindowRow:
    """One window of a streamed recording, as the patient sees it."""

    index: int
    start_s: float
    end_s: float
    bpm: float | None
    score: float | None
    sent: bool
    note: str
    kept: bool = False
    heart_rate_ciphertext: str | None = None
    score_ciphertext: str | None = None
    status: str | None = None


@dataclass
class StreamJob:
    """A recording being analysed and sent window by window (in a background thread)."""

    job_id: str
    source: str
    window_s: float
    total: int = 0
    rows: list[WindowRow] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    @property
    def sent(self) -> int:
        return sum(row.sent for row in self.rows)

    @property
    def kept(self) -> int:
        """Windows encrypted and kept in the outbox because A was away."""
        return sum(row.kept for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "done": len(self.rows),
            "sent": self.sent,
            "kept": self.kept,
            "finished": self.finished,
            "error": self.error,
            "rows": [asdict(row) for row in self.rows],
        }


def run_stream(
    job: StreamJob, path: Path, config: DeviceConfig, outbox: Outbox, history: DeviceHistory
) -> None:
    """Analyse ``path`` window by window and send each usable window (then delete the file)."""
    try:
        signal, rate = analysis.load(path)
        parts = analysis.windows(signal, rate, job.window_s, job.window_s)
        job.total = len(parts)
        started = datetime.now(UTC) - timedelta(seconds=len(signal) / rate)  # it ends now
        with OutboxSender(config, outbox) as sender:
            for index, (offset, window) in enumerate(parts, start=1):
                row, sendable = _stream_window(config, job, index, offset, window, rate, started)
                if sendable is not None:
                    _send_window(row, sendable, outbox, sender, history)
                job.rows.append(row)
        if sender.away is not None:
            job.error = kept_message(len(outbox))
    except HrmonError as exc:
        job.error = (
            unusable_message(exc, path) if isinstance(exc, InputError) else send_problem(exc)
        )
    finally:
        job.finished = True
        shutil.rmtree(path.parent, ignore_errors=True)


class _Sendable(NamedTuple):
    """A window's encrypted body, with what the patient's own history keeps of it."""

    body: dict[str, Any]
    reading: EncodedReading
    result: analysis.Analysis


def _stream_window(
    config: DeviceConfig,
    job: StreamJob,
    index: int,
    offset: float,
    window: analysis.Signal,
    rate: int,
    started: datetime,
) -> tuple[WindowRow, _Sendable | None]:
    result = analysis.analyse_signal(window, rate, f"{job.source} window {index}", offset)
    row = WindowRow(index, offset, offset + result.duration_s, result.bpm, result.score, False, "")
    if not result.sendable:
        row.note = f"not sent: {result.reason or 'no heart rate found'}"
        return row, None
    try:
        reading = reading_from(result, None, None)
    except InputError as exc:
        row.note = f"not sent: {exc}"
        return row, None
    body = encrypt_reading(config.system_key, reading, taken_at=started + timedelta(seconds=offset))
    row.heart_rate_ciphertext = shorten(body["heart_rate"])
    row.score_ciphertext = shorten(body["score"])
    return row, _Sendable(body, reading, result)


def _send_window(
    row: WindowRow,
    window: _Sendable,
    outbox: Outbox,
    sender: OutboxSender,
    history: DeviceHistory,
) -> None:
    """Keep the window's reading, then send the outbox; the row says which happened."""
    keep(outbox, history, *window)
    stored, dropped = sender.send()
    reading_id = str(window.body["reading_id"])
    refused = dict(dropped)
    if reading_id in stored:
        row.sent, row.note = True, "sent: ciphertexts only"
        if window.result.score_only:
            row.note += f" (score only: {window.result.why_score_only}; its range is not checked)"
    elif reading_id in refused:
        row.note = f"not sent: server A refused it ({refused[reading_id]})"
    else:
        row.kept, row.note = True, "kept on this device: server A cannot be reached"


def kept_message(waiting: int) -> str:
    """What the patient reads when readings wait on the device for server A (in plain
    words: the technical reason is not theirs to debug)."""
    return (
        "Server A cannot be reached right now. Your reading is encrypted and kept on this "
        f"device ({waiting} waiting); it is sent automatically with your next reading."
    )


def _safe_filename(name: str | None) -> str:
    base = _SAFE_NAME.sub("_", Path(name or "").name).strip("._") or "recording.wav"
    return base[:80]


def save_upload(upload: UploadFile) -> Path:
    """Copy an uploaded recording into a private temporary folder (caller removes it).

    Raises:
        InputError: no file, not .wav/.flac, empty or too large.
    """
    name = _safe_filename(upload.filename)
    if not upload.filename:
        raise InputError("Choose a recording (.wav) first.")
    if not name.lower().endswith(AUDIO_SUFFIXES):
        raise InputError(f"{name}: not a .wav recording. Choose a .wav file.")
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise InputError(f"{name}: the file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{name}: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    folder = Path(tempfile.mkdtemp(prefix="hrmon-device-"))
    path = folder / name
    path.write_bytes(data)
    return path


def unusable_message(exc: InputError, path: Path) -> str:
    """Why a recording was refused, naming the patient's file rather than the temporary copy."""
    text = str(exc).removeprefix("bad recording: ").replace(str(path), path.name)
    return f"This recording cannot be used: {text}. Nothing was sent."


def parse_window(text: str) -> float:
    """The stream window length in seconds.

    Raises:
        InputError: not a number within the limits.
    """
    low, high = WINDOW_LIMITS_S
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"Window length must be a number of seconds ({low:g} to {high:g})."
        ) from None
    if not low <= value <= high:
        raise InputError(f"Window length must be between {low:g} and {high:g} seconds.")
    return value


def create_app(config: DeviceConfig, outbox: Outbox, history: DeviceHistory) -> FastAPI:
    """The device page as an ASGI app: ``outbox`` holds readings until A stores them,
    ``history`` keeps the patient's own readings."""
    app = FastAPI(title="hrmon device", docs_url=None, redoc_url=None, openapi_url=None)
    templates = make_templates()
    csrf_token = secrets.token_urlsafe(32)
    jobs: dict[str, StreamJob] = {}
    lock = threading.Lock()

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        response: HTMLResponse = templates.TemplateResponse(
            request,
            f"device/{name}",
            {
                "csrf_token": csrf_token,
                "server": config.server,
                "window_default": f"{DEFAULT_WINDOW_S:g}",
                "window_limits": WINDOW_LIMITS_S,
                **context,
            },
            status_code=status_code,
        )
        return response

    def refuse(request: Request, message: str, status_code: int) -> HTMLResponse:
        return page(request, "index.html", status_code, error=message)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return page(request, "index.html", own_readings=history.recent(HISTORY_SHOWN))

    @app.post("/analyse", response_class=HTMLResponse)
    def analyse_and_send(
        request: Request,
        recording: Annotated[UploadFile | None, File()] = None,
        token: Annotated[str | None, Form(alias="csrf_token")] = None,
    ) -> HTMLResponse:
        if not same_token(csrf_token, token):
            return refuse(request, "The form had expired. Please choose the file again.", 400)
        if recording is None:
            return refuse(request, "Choose a recording (.wav) first.", 422)
        try:
            path = save_upload(recording)
        except InputError as exc:
            return refuse(request, str(exc), 422)
        try:
            # named after the patient's file, not the temporary copy, in every message
            result = replace(analysis.analyse_file(path), source=path.name)
        except InputError as exc:
            return refuse(request, unusable_message(exc, path), 422)
        except HrmonError as exc:
            return refuse(request, f"This device cannot analyse recordings: {exc}", 500)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        context: dict[str, Any] = {"result": result, "body": None, "kept": None}
        try:
            reading = reading_from(result, None, None)
        except InputError as exc:
            return page(request, "result.html", 422, error=str(exc), **context)
        body = encrypt_reading(config.system_key, reading)
        keep(outbox, history, body, reading, result)
        try:
            stored, dropped, _ = deliver(config, outbox)
        except HrmonError as exc:  # token refused, key changed: the reading stays kept
            return page(request, "result.html", 502, error=send_problem(exc), **context)
        reading_id = str(body["reading_id"])
        for refused_id, refusal in dropped:
            if refused_id == reading_id:
                return page(request, "result.html", 502, error=send_problem(refusal), **context)
        context["body"] = shown_body(body)
        if reading_id not in stored:
            context["kept"] = kept_message(len(outbox))
        return page(request, "result.html", **context)

    @app.post("/stream")
    def start_stream(
        request: Request,
        recording: Annotated[UploadFile | None, File()] = None,
        window: Annotated[str, Form()] = f"{DEFAULT_WINDOW_S:g}",
        token: Annotated[str | None, Form(alias="csrf_token")] = None,
    ) -> Response:
        if not same_token(csrf_token, token):
            return refuse(request, "The form had expired. Please choose the file again.", 400)
        if recording is None:
            return refuse(request, "Choose a recording (.wav) first.", 422)
        try:
            window_s = parse_window(window)
            path = save_upload(recording)
        except InputError as exc:
            return refuse(request, str(exc), 422)
        job = StreamJob(secrets.token_urlsafe(12), path.name, window_s)
        with lock:
            while len(jobs) >= MAX_JOBS:
                del jobs[next(iter(jobs))]
            jobs[job.job_id] = job
        threading.Thread(
            target=run_stream, args=(job, path, config, outbox, history), daemon=True
        ).start()
        return RedirectResponse(f"/stream/{job.job_id}", status_code=303)

    def find_job(job_id: str) -> StreamJob:
        with lock:
            job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such stream")
        return job

    @app.get("/stream/{job_id}", response_class=HTMLResponse)
    def stream_page(request: Request, job_id: str) -> HTMLResponse:
        return page(request, "stream.html", job=find_job(job_id))

    @app.get("/stream/{job_id}/state")
    def stream_state(job_id: str) -> JSONResponse:
        return JSONResponse(find_job(job_id).to_json())

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return refuse(request, message, exc.status_code)

    install_web_basics(app)
    return app


@run_command
def main(argv: list[str]) -> int:
    """``hrmon device page [--config FILE] [--port N]``: serve until Ctrl-C."""
    parser = cli_help.parser(
        prog="hrmon device page",
        description="Run the patient device's page on this machine (loopback only): analyse "
        "a recording here and send only ciphertexts to server A.",
    )
    device_config.add_path_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    args = parser.parse_args(argv)
    path = args.config or device_config.default_path()
    config = device_config.load(path)
    port = args.port or free_port(args.host)
    app = create_app(config, Outbox(outbox_path(path)), DeviceHistory(history_path(path)))
    serve(app, args.host, port, "device page")
    return 0
