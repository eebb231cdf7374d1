"""A fake Telegram Bot API HTTP server for end-to-end tests of the bot.

The server is a real HTTP server (stdlib ``ThreadingHTTPServer``) on 127.0.0.1 with an ephemeral
port, running in a background thread of the test process, so the bot can run in the same process
or in a separate one. Point PTB at it with ``base_url=fake.base_url`` and
``base_file_url=fake.base_file_url``.

Tests act as Telegram users through :class:`FakeTelegram` methods (``send_text``, ``send_photo``,
``send_album`` (2-10 photos), ``edit_message``, ``press_button`` (also with forged ``data=``),
``inline_query``, ``channel_post``...), which queue updates for ``getUpdates`` (or, with
``take_updates`` and ``post_update_to``, for a webhook), and inspect what the bot did through
``calls`` (with start and ``finished`` times), ``first_reply_after``, ``bot_messages``,
``downloads`` and ``file_bytes``.

Update kinds: ``message``, ``edited_message``, ``channel_post``, ``edited_channel_post``,
``callback_query``, ``inline_query``, ``chosen_inline_result`` and ``my_chat_member`` (on block or
kick with ``notify=True``); group messages sent as a channel or by an anonymous admin
(``sender_chat=``, ``from`` = Channel_Bot / GroupAnonymousBot); a channel's posts forwarded automatically to
its linked discussion group (``auto_forward``: ``is_automatic_forward``, ``from`` = Telegram's 777000).

Forum supergroups (``forum_chat``, ``create_topic``): users write in a topic (``thread_id=``; as in Telegram,
such a message without a reply of its own carries the topic's creation message as ``reply_to_message``); the
bot's messages go to the topic named by ``message_thread_id``, else to the topic of the message they reply
to, else to General, and are stored with their ``message_thread_id``. Users delete messages
(``delete_message``): a reply to a deleted message is "message to be replied not found" unless
``allow_sending_without_reply`` (then it is sent without the reply, in General unless a topic is named).
Files may declare a smaller size than they have (``declared_size=``, as a lying server could).

Realistic behaviour that bots must cope with is simulated: privacy mode in groups (no parse modes: the bot
sends plain text, and the fake refuses markup rather than pretend to parse it), "message is not modified"
on identical edits, edits removing an inline keyboard unless it is passed again, callback/inline queries
answered twice, unknown ``file_id``, files too big for ``getFile``, ``409 Conflict`` when a second ``getUpdates`` starts
while one is still waiting (the older one is terminated), users who blocked the bot and groups
that kicked it (403 on sends, edits and answers until the test says otherwise), groups without
media rights (400 on photos/documents/animations/videos, text still works), scheduled errors
(``fail_next``) and lasting fault rules (``fault``, ``delay_download``): Telegram's exact error
bodies (429 with ``retry_after``, 403, 400, 502...), and slow calls or downloads (the handler thread
sleeps without holding the fake's lock, so other calls go on; a delay beyond the client's read
timeout is a timeout, and the call is still carried out afterwards, as Telegram may do).
"""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import email.utils
import io
import itertools
import json
import random
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

T = TypeVar("T")

BOT_ID = 999000
CHANNEL_BOT_ID = 136817688  # "from" of group messages sent on behalf of a channel
GROUP_ANONYMOUS_BOT_ID = 1087968824  # "from" of group messages sent by an anonymous admin
TELEGRAM_SERVICE_ID = 777000  # "from" of a channel's posts forwarded automatically to its discussion group
DOWNLOAD = "download"  # pseudo-method of fault rules for file downloads (GET /file/bot<token>/<path>)
# Shaped like a real token (<bot id>:<35 URL-safe characters>), so the bot's start-up check accepts it.
FAKE_TOKEN = f"{BOT_ID}:FAKE-token_of-the-fake-Bot-API-0000"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_POLL_TIMEOUT = 50.0

_JSON_KEYS = frozenset(
    {
        "reply_markup",
        "media",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "results",
        "allowed_updates",
        "menu_button",
        "link_preview_options",
        "reply_parameters",
        "button",
        "explanation_entities",
        "options",
        "permissions",
        "question_entities",
        "reaction",
        "message_ids",
        "rights",
        "stickers",
    }
)
# Keys whose form values are plain strings even if they look like numbers or booleans.
_STRING_KEYS = frozenset(
    {
        "text",
        "caption",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "file_id",
        "photo",
        "document",
        "animation",
        "video",
        "audio",
        "voice",
        "video_note",
        "sticker",
        "thumbnail",
        "parse_mode",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "url",
        "action",
        "title",
        "description",
        "short_description",
        "name",
        "language_code",
        "custom_title",
        "emoji",
        "business_connection_id",
        "message_effect_id",
        "file_name",
        "payload",
        "data",
        "first_name",
        "last_name",
        "phone_number",
        "question",
        "explanation",
    }
)
_MEDIA_KINDS = ("photo", "document", "animation", "video", "video_note", "audio", "voice", "sticker")
_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"

# Error descriptions exactly as Telegram sends them (for ``fault(..., description=...)``).
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
ERR_KICKED_GROUP = "Forbidden: bot was kicked from the group chat"
ERR_KICKED_SUPERGROUP = "Forbidden: bot was kicked from the supergroup chat"
ERR_NOT_IN_CHANNEL = "Forbidden: bot is not a member of the channel chat"
ERR_NO_PHOTO_RIGHTS = "Bad Request: not enough rights to send photos to the chat"
ERR_NO_DOCUMENT_RIGHTS = "Bad Request: not enough rights to send documents to the chat"
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
ERR_THREAD_NOT_FOUND = "Bad Request: message thread not found"
ERR_NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
ERR_NOT_MODIFIED = _NOT_MODIFIED
ERR_QUERY_TOO_OLD = _QUERY_TOO_OLD
ERR_BAD_GATEWAY = "Bad Gateway"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: ERR_BLOCKED,
    404: "Not Found",
    500: "Internal Server Error",
    502: ERR_BAD_GATEWAY,
    504: "Gateway Timeout",
}
_RIGHTS_NOUNS = {
    "photo": "photos",
    "document": "documents",
    "animation": "animations",
    "video": "videos",
    "audio": "audios",
    "voice": "voice notes",
    "sticker": "stickers",
}


# --------------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A Telegram user (not a bot) that tests act as."""

    id: int
    first_name: str = "Alice"
    username: str | None = None
    language_code: str | None = "en"

    def to_dict(self) -> dict[str, Any]:
        """Bot API ``User`` JSON."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True)
class Chat:
    """A chat: ``private`` (then ``user`` is the other side), ``group``, ``supergroup`` or ``channel``."""

    id: int
    type: str
    title: str | None = None
    user: User | None = None
    is_forum: bool = False  # a supergroup with topics

    def to_dict(self) -> dict[str, Any]:
        """Bot API ``Chat`` JSON."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.is_forum:
            data["is_forum"] = True
        if self.type == "private" and self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or "Group"
        return data

    @property
    def is_group(self) -> bool:
        """True for groups and supergroups."""
        return self.type in ("group", "supergroup")

    @property
    def is_channel(self) -> bool:
        """True for channels."""
        return self.type == "channel"


@dataclass(frozen=True)
class FileRef:
    """A file the fake knows, as returned by :meth:`FakeTelegram.add_file`."""

    file_id: str
    file_unique_id: str
    file_path: str
    file_size: int
    kind: str
    width: int = 0
    height: int = 0


@dataclass
class Call:
    """One Bot API request made by the bot (``time``/``finished``: ``time.time()`` at arrival/answer)."""

    method: str
    params: dict[str, Any]
    uploads: dict[str, bytes] = field(default_factory=dict)
    upload_names: dict[str, str] = field(default_factory=dict)
    time: float = 0.0
    result: Any = None
    error: dict[str, Any] | None = None
    finished: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from arrival to answer (None while in progress)."""
        return None if self.finished is None else self.finished - self.time

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (False while still in progress or when it failed)."""
        return self.error is None and self.result is not None

    def summary(self) -> str:
        """Short one-line description for failure messages."""
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup",)}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        if self.uploads:
            text += f" uploads={ {k: len(v) for k, v in self.uploads.items()} }"
        status = "ERR " + str(self.error.get("description")) if self.error else "ok"
        return f"{self.method}({text}) -> {status}"


@dataclass
class _FileEntry:
    file_id: str
    file_unique_id: str
    data: bytes
    kind: str
    file_path: str
    width: int = 0
    height: int = 0
    duration: int = 0
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[dict[str, Any]] | None = None  # for photos: the whole PhotoSize group
    sticker: dict[str, Any] | None = None  # for stickers: type, is_video, is_animated, width, height, set_name
    chat_id: int | None = None  # the chat a user sent it in, for per-chat download faults
    declared_size: int | None = None  # the size Telegram states (messages, getFile); None: the real one

    @property
    def size(self) -> int:
        """The size the fake states for the file (the download serves all of ``data`` whatever it says)."""
        return len(self.data) if self.declared_size is None else self.declared_size

    def ref(self) -> FileRef:
        return FileRef(
            self.file_id,
            self.file_unique_id,
            self.file_path,
            self.size,
            self.kind,
            self.width,
            self.height,
        )

    def photo_size(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "width": self.width,
            "height": self.height,
        }


@dataclass
class _Upload:
    name: str
    filename: str
    content_type: str
    data: bytes


class ApiError(Exception):
    """A Bot API error response."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def to_dict(self) -> dict[str, Any]:
        """Bot API error JSON."""
        data: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            data["parameters"] = self.parameters
        return data


@dataclass
class _ScheduledError:
    remaining: int
    error: ApiError
    raw_body: bytes | None = None


def _api_error(error_code: int, description: str | None = None, retry_after: int | None = None) -> ApiError:
    """An ApiError with Telegram's default description for the code (429: ``retry after N``)."""
    if description is None:
        if error_code == 429:
            description = f"Too Many Requests: retry after {retry_after or 1}"
        else:
            description = _DEFAULT_DESCRIPTIONS.get(error_code, "Internal Server Error")
    parameters = {"retry_after": retry_after or 1} if error_code == 429 or retry_after else None
    return ApiError(error_code, description, parameters)


@dataclass(eq=False)
class Fault:
    """A lasting fault rule from :meth:`FakeTelegram.fault`; ``remove()`` (or ``with``) ends it."""

    method: str  # lower-case Bot API method, "*" for all, or DOWNLOAD
    error: ApiError | None
    delay: float = 0.0
    times: int | None = None  # calls left; None: until removed
    chat_id: int | None = None
    file_id: str | None = None
    until: float | None = None  # time.monotonic() deadline
    raw_body: bytes | None = None
    hits: int = 0  # calls it applied to so far
    probability: float = 1.0  # the chance it applies to a matching call (random faults for load tests)
    _fake: FakeTelegram | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Whether the rule still applies to new calls."""
        fake = self._fake
        if fake is None or (self.until is not None and time.monotonic() >= self.until):
            return False
        with fake._lock:
            return self in fake._faults

    def remove(self) -> None:
        """Stop applying the rule (calls already delayed by it still finish their delay)."""
        if self._fake is not None:
            with self._fake._lock:
                if self in self._fake._faults:
                    self._fake._faults.remove(self)

    def __enter__(self) -> Fault:
        """Use the rule for a ``with`` block."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Remove the rule."""
        self.remove()


# --------------------------------------------------------------------------------------------------
# Text helpers: UTF-16 offsets, entities, parse modes
# --------------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """bot_command and mention entities, as Telegram adds them to user messages."""
    found: list[dict[str, Any]] = []
    for regex, kind in ((_COMMAND_RE, "bot_command"), (_MENTION_RE, "mention")):
        for m in regex.finditer(text):
            found.append({"type": kind, "offset": _u16(text[: m.start()]), "length": _u16(m.group())})
    found.sort(key=lambda e: (e["offset"], -e["length"]))
    return found


def _render(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[dict[str, Any]]]:
    """Plain text or explicit entities; the bot sends no markup, so a parse mode is refused rather than faked."""
    if parse_mode:
        raise ApiError(400, f"Bad Request: this fake parses no markup (parse_mode {parse_mode!r})")
    return text, list(entities or [])


# --------------------------------------------------------------------------------------------------
# Image helpers (Pillow)
# --------------------------------------------------------------------------------------------------


@dataclass
class _ImageInfo:
    width: int
    height: int
    format: str
    frames: int
    duration_ms: int


def _image_info(data: bytes) -> _ImageInfo | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.load()
            frames = getattr(img, "n_frames", 1)
            duration = 0
            if frames > 1:
                for k in range(frames):
                    img.seek(k)
                    duration += int(img.info.get("duration", 100) or 0)
            return _ImageInfo(img.width, img.height, img.format or "JPEG", frames, duration)
    except Exception:
        return None


@dataclass(frozen=True)
class ClipFacts:
    """What the fake reads from an uploaded clip with PyAV: container, codec, size, duration, sound."""

    container: str
    codec: str
    width: int
    height: int
    duration: float
    has_audio: bool


def clip_facts(data: bytes) -> ClipFacts | None:
    """The facts of a video file (MP4, WEBM), or None when PyAV cannot open it."""
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            video = next((st for st in container.streams if st.type == "video"), None)
            if video is None:
                return None
            seconds = float(container.duration or 0) / 1e6
            if not seconds and video.duration is not None and video.time_base is not None:
                seconds = float(video.duration * video.time_base)
            audio = any(st.type == "audio" for st in container.streams)
            return ClipFacts(
                container.format.name,
                video.codec_context.name,
                video.codec_context.width,
                video.codec_context.height,
                seconds,
                audio,
            )
    except Exception:  # not a clip PyAV can read
        return None


WEBM_MAGIC = b"\x1a\x45\xdf\xa3"
STICKER_SIDE = 512
MAX_VIDEO_STICKER_BYTES = 256 * 1024
MAX_VIDEO_NOTE_SIDE = 640  # Telegram refuses round videos of 640 px and more
ERR_STICKERSET_INVALID = "Bad Request: STICKERSET_INVALID"


def _thumbnail(data: bytes, limit: int) -> tuple[bytes, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        small = img.convert("RGB")
        small.thumbnail((limit, limit))
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=80)
        return buf.getvalue(), small.width, small.height


_EXT_BY_FORMAT = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}
_MIME_BY_FORMAT = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}


# --------------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------------


def _coerce(key: str, value: str) -> Any:
    """Decode a form value the way the Bot API interprets it."""
    if key in _JSON_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _STRING_KEYS:
        return value
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?\d+\.\d*", value):
        return float(value)
    return value


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, _Upload]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    uploads: dict[str, _Upload] = {}
    if not msg.is_multipart():
        return params, uploads
    for part in msg.walk():
        if part is msg:
            continue
        raw_name = part.get_param("name", header="content-disposition")
        if not raw_name:
            continue
        name = email.utils.collapse_rfc2231_value(raw_name)
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        filename = part.get_filename()
        if filename is not None:
            uploads[name] = _Upload(name, filename, part.get_content_type(), payload)
        else:
            charset = part.get_content_charset() or "utf-8"
            params[name] = _coerce(name, payload.decode(charset, "replace"))
    return params, uploads


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeTelegram

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (e.g. a SIGKILLed bot process); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr logging."""

    def do_GET(self) -> None:
        """Handle Bot API GET requests and file downloads."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle Bot API POST requests."""
        self._dispatch()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.server.fake.stopped:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _dispatch(self) -> None:
        fake = self.server.fake
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot") :].partition("/")
            status, payload, content_type = fake._serve_download(token, file_path)
            self._send(status, payload, content_type)
            return
        if not path.startswith("/bot") or "/" not in path[4:]:
            self._send(404, json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode())
            return
        token, _, method = path[4:].partition("/")
        params: dict[str, Any] = {k: _coerce(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True)}
        uploads: dict[str, _Upload] = {}
        ctype = self.headers.get("Content-Type", "")
        try:
            if body and ctype.startswith("application/json"):
                decoded = json.loads(body)
                for k, v in decoded.items():
                    params[k] = json.loads(v) if k in _JSON_KEYS and isinstance(v, str) else v
            elif body and ctype.startswith("multipart/form-data"):
                form, uploads = _parse_multipart(ctype, body)
                params.update(form)
            elif body:
                params.update({k: _coerce(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)})
        except ValueError:
            self._send(400, json.dumps({"ok": False, "error_code": 400, "description": "Bad Request"}).encode())
            return
        status, payload = fake._handle(token, method, params, uploads)
        self._send(status, payload)


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------


class FakeTelegram:
    """A fake Telegram Bot API server with helpers to act as users and inspect the bot."""

    def __init__(
        self, *, token: str = FAKE_TOKEN, bot_username: str = "stylebot_test_bot", privacy_mode: bool = True
    ) -> None:
        """Create the fake (not started yet)."""
        self.token = token
        self.bot_username = bot_username
        self.privacy_mode = privacy_mode
        self.bot_user: dict[str, Any] = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Stylebot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self.calls: list[Call] = []
        self.undelivered: list[dict[str, Any]] = []  # user messages hidden from the bot by privacy mode
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope/language key -> commands
        self.menu_buttons: list[dict[str, Any]] = []
        self.sticker_sets: dict[str, dict[str, Any]] = {}  # name -> {name, title, owner, stickers: [file ids]}
        self.stopped = False
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._counter = itertools.count(1)
        self._files: dict[str, _FileEntry] = {}
        self._chats: dict[int, Chat] = {}
        self._users: dict[int, User] = {}
        self._admins: set[tuple[int, int]] = set()
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._next_message_id: dict[int, int] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._topics: dict[int, set[int]] = {}  # forum chat id -> its topics' message_thread_ids
        self._callback_queries: dict[str, dict[str, Any]] = {}  # id -> {"answered": bool, ...}
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self._inline_messages: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, list[_ScheduledError]] = {}
        self._faults: list[Fault] = []
        self._random = random.Random(20261201)  # faults by chance, the same chances every run
        self._kicked: set[int] = set()
        self._migrated: dict[int, int] = {}  # basic group -> the supergroup it became
        self._no_media: set[int] = set()
        self._stop_event = threading.Event()  # interrupts fault delays on stop()
        self.downloads: list[Call] = []  # file downloads (method DOWNLOAD, params file_path/file_id)
        self._poll_generation = 0
        self.base_url = ""
        self.base_file_url = ""
        self.webhook: dict[str, Any] = {}  # the last setWebhook's url and secret_token
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, _Upload]], Any]] = {
            name[len("_m_") :].replace("_", ""): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegram:
        """Start serving on 127.0.0.1 with an ephemeral port; returns self."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._stop_event.clear()
        self._server = server
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server; waiting long polls return promptly."""
        with self._cond:
            self.stopped = True
            self._cond.notify_all()
        self._stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        """Start the server."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        assert self._server is not None, "FakeTelegram is not started"
        return int(self._server.server_address[1])

    # ------------------------------------------------------------------ files

    def add_file(self, data: bytes, *, kind: str = "photo", file_name: str | None = None) -> FileRef:
        """Register bytes as a Telegram file; for photos the ref is the largest PhotoSize."""
        with self._lock:
            if kind == "photo":
                sizes = self._store_photo(data)
                return self._files[sizes[-1]["file_id"]].ref()
            return self._store_file(data, kind, file_name=file_name).ref()

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a known file."""
        with self._lock:
            entry = self._files.get(file_id)
            if entry is None:
                raise KeyError(f"unknown file_id {file_id!r}")
            return entry.data

    def message_file_bytes(self, message: dict[str, Any]) -> bytes:
        """Bytes of the media of a message: largest photo, document, animation or video."""
        if message.get("photo"):
            return self.file_bytes(message["photo"][-1]["file_id"])
        for kind in _MEDIA_KINDS:
            if message.get(kind):
                return self.file_bytes(message[kind]["file_id"])
        raise KeyError(f"message {message.get('message_id')} has no media")

    def _new_ids(self, kind: str) -> tuple[str, str, int]:
        n = next(self._counter)
        return f"{kind[:3].upper()}_{n}_{uuid.uuid4().hex[:12]}", f"U{n:07d}", n

    def _store_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
        duration: int = 0,
        chat_id: int | None = None,
    ) -> _FileEntry:
        file_id, unique_id, n = self._new_ids(kind)
        info = _image_info(data) if kind in ("photo", "animation", "document", "sticker") else None
        if info:
            width = width or info.width
            height = height or info.height
            if kind == "animation" and not duration:
                duration = max(1, round(info.duration_ms / 1000)) if info.frames > 1 else 0
            if mime_type in (None, "application/octet-stream"):
                mime_type = _MIME_BY_FORMAT.get(info.format, mime_type)
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1]
        elif info:
            ext = _EXT_BY_FORMAT.get(info.format, "bin")
        else:
            ext = {"video": "mp4", "animation": "mp4"}.get(kind, "bin")
        folder = {
            "photo": "photos",
            "document": "documents",
            "animation": "animations",
            "video": "videos",
        }.get(kind, kind + "s")
        entry = _FileEntry(
            file_id=file_id,
            file_unique_id=unique_id,
            data=data,
            kind=kind,
            file_path=f"{folder}/file_{n}.{ext}",
            width=width,
            height=height,
            duration=duration,
            file_name=file_name,
            mime_type=mime_type,
            chat_id=chat_id,
        )
        self._files[file_id] = entry
        return entry

    def _store_photo(self, data: bytes, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Store a photo as Telegram does: thumbnails (90px, 320px) plus the full size (these bytes)."""
        info = _image_info(data)
        if info is None:
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        if info.width + info.height > 10000 or max(info.width, info.height) > 20 * min(info.width, info.height):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        entries: list[_FileEntry] = []
        for limit in (90, 320):
            if max(info.width, info.height) > limit:
                small, w, h = _thumbnail(data, limit)
                entries.append(
                    self._store_file(small, "photo", width=w, height=h, mime_type="image/jpeg", chat_id=chat_id)
                )
        entries.append(self._store_file(data, "photo", width=info.width, height=info.height, chat_id=chat_id))
        sizes = [e.photo_size() for e in entries]
        for e in entries:
            e.photo_sizes = sizes
        return copy.deepcopy(sizes)

    def _serve_download(self, token: str, file_path: str) -> tuple[int, bytes, str]:
        """Answer ``GET /file/bot<token>/<path>``: status, body, content type (after any fault delay)."""
        not_found = json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode()
        with self._cond:
            entry = next((e for e in self._files.values() if e.file_path == file_path), None)
            call = Call(DOWNLOAD, {"file_path": file_path, "file_id": entry and entry.file_id}, time=time.time())
            self.downloads.append(call)
            fault = None
            if token == self.token and entry is not None:
                fault = self._match_fault(DOWNLOAD, entry.chat_id, entry.file_id)
        if fault is not None and fault.delay > 0:
            self._stop_event.wait(fault.delay)
        with self._cond:
            call.finished = time.time()
            self._cond.notify_all()
            if fault is not None and fault.error is not None:
                call.error = fault.error.to_dict()
                return fault.error.code, fault.raw_body or json.dumps(call.error).encode(), "application/json"
            if token != self.token or entry is None:
                call.error = {"ok": False, "error_code": 404, "description": "Not Found"}
                return 404, not_found, "application/json"
            call.result = len(entry.data)
            return 200, entry.data, "application/octet-stream"

    # ------------------------------------------------------------------ users and chats

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        username: str | None = None,
        language_code: str | None = "en",
    ) -> User:
        """Register (or replace) a user."""
        u = User(user_id, first_name, username, language_code)
        with self._lock:
            self._users[user_id] = u
        return u

    def private_chat(self, user_id: int, first_name: str = "Alice", username: str | None = None) -> Chat:
        """A private chat with a (newly registered) user; ``chat.user`` is that user."""
        u = self.user(user_id, first_name, username)
        chat = Chat(user_id, "private", user=u)
        with self._lock:
            self._chats[chat.id] = chat
        return chat

    def group_chat(self, chat_id: int, title: str = "Group", *, basic: bool = False) -> Chat:
        """A supergroup (positive id -> Telegram's -100<id>), or with ``basic`` a basic group (-<id>)."""
        if chat_id > 0:
            chat_id = -chat_id if basic else -int(f"100{chat_id}")
        chat = Chat(chat_id, "group" if basic else "supergroup", title=title)
        with self._lock:
            self._chats[chat.id] = chat
        return chat

    def forum_chat(self, chat_id: int, title: str = "Forum") -> Chat:
        """A supergroup with topics (positive id -> -100<id>); its General topic has no message_thread_id."""
        chat = Chat(-int(f"100{chat_id}") if chat_id > 0 else chat_id, "supergroup", title=title, is_forum=True)
        with self._lock:
            self._chats[chat.id] = chat
            self._topics.setdefault(chat.id, set())
        return chat

    def create_topic(self, chat: Chat, name: str, user: User | None = None) -> int:
        """A member opens a topic in a forum; returns its message_thread_id (the id of its creation message)."""
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum")
        creator = user or User(1, "Admin")
        with self._cond:
            msg = self._new_message(
                chat, creator.to_dict(), {"forum_topic_created": {"name": name, "icon_color": 7322096}}
            )
            msg["message_thread_id"] = msg["message_id"]
            msg["is_topic_message"] = True
            self._topics[chat.id].add(msg["message_id"])
            return int(msg["message_id"])

    def delete_message(self, chat: Chat, message_id: int) -> None:
        """A user (or an admin) deletes a message: replies to it fail, edits of it too."""
        with self._lock:
            if message_id not in self._messages.get(chat.id, {}):
                raise ValueError(f"message {message_id} does not exist in chat {chat.id}")
            self._deleted.add((chat.id, message_id))

    def channel_chat(self, chat_id: int, title: str = "Channel") -> Chat:
        """A channel (the bot is an admin there); a positive id is turned into -100<id>."""
        if chat_id > 0:
            chat_id = -int(f"100{chat_id}")
        chat = Chat(chat_id, "channel", title=title)
        with self._lock:
            self._chats[chat.id] = chat
        return chat

    def set_admin(self, chat_id: int, user_id: int) -> None:
        """Make a user (or the bot itself, which disables privacy mode there) an admin of a chat."""
        with self._lock:
            self._admins.add((chat_id, user_id))

    def set_blocked(self, user_id: int, blocked: bool = True, *, notify: bool = False) -> None:
        """The user blocks (or unblocks) the bot: sends, edits and answers there fail with 403.

        Only the test ends a block (the user writing again does not); ``notify`` queues the
        ``my_chat_member`` update Telegram sends (new status ``kicked``, or ``member`` on unblock).
        """
        with self._cond:
            (self._blocked.add if blocked else self._blocked.discard)(user_id)
            if notify:
                user = self._users.get(user_id) or User(user_id)
                chat = self._chats.get(user_id) or Chat(user_id, "private", user=user)
                self._queue_member_change(chat, user, "kicked" if blocked else "member")

    def set_kicked(self, chat_id: int, kicked: bool = True, *, by: User | None = None, notify: bool = False) -> None:
        """The bot is removed from (or re-added to) a group or channel: calls there fail with 403.

        ``notify`` queues the ``my_chat_member`` update, from ``by`` (default: a user "Admin", id 1).
        """
        with self._cond:
            (self._kicked.add if kicked else self._kicked.discard)(chat_id)
            if notify:
                chat = self._chats.get(chat_id) or Chat(chat_id, "supergroup")
                self._queue_member_change(chat, by or User(1, "Admin"), "kicked" if kicked else "member")

    def migrate_group(self, chat_id: int, *, by: User | None = None, notify: bool = True) -> Chat:
        """A basic group becomes a supergroup (a new id, -100...); calls to the old id answer 400 with the new one.

        ``notify`` queues the two service messages Telegram sends: ``migrate_to_chat_id`` in the old chat and
        ``migrate_from_chat_id`` in the new one.
        """
        with self._cond:
            old = self._chats[chat_id]
            new = Chat(-int(f"100{abs(chat_id)}"), "supergroup", title=old.title)
            self._chats[new.id] = new
            self._migrated[chat_id] = new.id
            if notify:
                sender = (by or User(1, "Admin")).to_dict()
                for chat, content in ((old, {"migrate_to_chat_id": new.id}), (new, {"migrate_from_chat_id": chat_id})):
                    self._queue({"message": self._new_message(chat, sender, content)})
        return new

    def set_no_media(self, chat_id: int, no_media: bool = True) -> None:
        """Take away (or give back) the bot's media rights in a chat: media sends fail with 400, text works."""
        with self._lock:
            (self._no_media.add if no_media else self._no_media.discard)(chat_id)

    def _queue_member_change(self, chat: Chat, by: User, status: str) -> None:
        old, new = ("member", "kicked") if status == "kicked" else ("kicked", "member")
        bot = {k: v for k, v in self.bot_user.items() if k in ("id", "is_bot", "first_name", "username")}

        def member(state: str) -> dict[str, Any]:
            return {"status": state, "user": dict(bot), **({"until_date": 0} if state == "kicked" else {})}

        self._queue(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": by.to_dict(),
                    "date": int(time.time()),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    # ------------------------------------------------------------------ user actions
    # In the methods below, ``user=None`` means the other side of a private chat.

    @staticmethod
    def _who(chat: Chat, user: User | None) -> User:
        if user is not None:
            return user
        if chat.user is None:
            raise ValueError(f"chat {chat.id} is not a private chat: pass the user explicitly")
        return chat.user

    def send_text(
        self,
        chat: Chat,
        user: User | None,
        text: str,
        *,
        reply_to: int | None = None,
        sender_chat: Chat | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a text message (in a forum topic with ``thread_id``); commands get entities as in Telegram."""
        content: dict[str, Any] = {"text": text}
        entities = _auto_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(chat, user, content, reply_to=reply_to, sender_chat=sender_chat, thread_id=thread_id)

    def send_photo(
        self,
        chat: Chat,
        user: User | None,
        image: bytes,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        media_group_id: str | None = None,
        sender_chat: Chat | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (sizes: thumbnails plus the full image, whose bytes are ``image``)."""
        with self._lock:
            content: dict[str, Any] = {"photo": self._store_photo(image, chat.id)}
        self._add_caption(content, caption)
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self._user_message(chat, user, content, reply_to=reply_to, sender_chat=sender_chat, thread_id=thread_id)

    def send_document(
        self,
        chat: Chat,
        user: User | None,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        reply_to: int | None = None,
        sender_chat: Chat | None = None,
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file as a document (``declared_size``: the size Telegram states, if not its real one)."""
        with self._lock:
            entry = self._store_file(data, "document", file_name=file_name, mime_type=mime_type, chat_id=chat.id)
            entry.declared_size = declared_size
        content: dict[str, Any] = {"document": self._media_json(entry)}
        self._add_caption(content, caption)
        return self._user_message(chat, user, content, reply_to=reply_to, sender_chat=sender_chat)

    def send_clip(
        self,
        chat: Chat,
        user: User | None,
        data: bytes,
        *,
        kind: str,
        caption: str | None = None,
        reply_to: int | None = None,
        file_name: str | None = None,
        is_video: bool = False,
        is_animated: bool = False,
        size: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a clip as Telegram hands it to bots: kind "animation" (MP4, also a document), "video",
        "video_note" (square; `length`), or "sticker" (WEBP, or WEBM with is_video, or TGS with is_animated).

        Width, height and duration are read from the file; `size` overrides the reported file_size (a clip
        "too large to download" without the bytes).
        """
        facts = clip_facts(data) if not is_animated else None
        width, height = (facts.width, facts.height) if facts else (STICKER_SIDE, STICKER_SIDE)
        info = _image_info(data) if facts is None and not is_animated else None
        if info is not None:
            width, height = info.width, info.height
        duration = max(1, round(facts.duration)) if facts else 0
        mime = {"animation": "video/mp4", "video": "video/mp4", "video_note": None}.get(kind)
        with self._lock:
            entry = self._store_file(
                data, kind, file_name=file_name, mime_type=mime, width=width, height=height,
                duration=duration, chat_id=chat.id,
            )  # fmt: skip
            if kind == "sticker":
                entry.sticker = {
                    "type": "regular", "width": width, "height": height, "is_video": is_video,
                    "is_animated": is_animated, "emoji": "🙂",
                }  # fmt: skip
            media = self._media_json(entry)
        if size is not None:
            media["file_size"] = size
        content: dict[str, Any] = {kind: media}
        if kind == "animation":
            content["document"] = dict(media)  # Telegram sets both: handle animations first
        if kind in ("animation", "video"):
            self._add_caption(content, caption)
        return self._user_message(chat, user, content, reply_to=reply_to)

    def send_album(
        self,
        chat: Chat,
        user: User | None,
        images: list[bytes],
        *,
        caption: str | None = None,
        sender_chat: Chat | None = None,
    ) -> list[dict[str, Any]]:
        """The user sends 2-10 photos as one album (shared media_group_id, caption on the first)."""
        if not 2 <= len(images) <= 10:
            raise ValueError(f"an album has 2-10 photos, not {len(images)}")
        group_id = str(13_000_000_000_000_000 + next(self._counter))
        return [
            self.send_photo(
                chat,
                user,
                img,
                caption=caption if k == 0 else None,
                media_group_id=group_id,
                sender_chat=sender_chat,
            )
            for k, img in enumerate(images)
        ]

    def edit_message(
        self,
        chat: Chat,
        user: User | None,
        message_id: int,
        new_text: str | None = None,
        new_caption: str | None = None,
    ) -> dict[str, Any]:
        """The user (or the channel, ``user=None``) edits a message: ``edited_message``/``edited_channel_post``."""
        if (new_text is None) == (new_caption is None):
            raise ValueError("pass exactly one of new_text and new_caption")
        with self._cond:
            msg = self._messages.get(chat.id, {}).get(message_id)
            if msg is None or (chat.id, message_id) in self._deleted:
                raise ValueError(f"message {message_id} does not exist in chat {chat.id}")
            if not chat.is_channel:
                author = msg.get("from", {}).get("id")
                expected = self._who(chat, user).id if "sender_chat" not in msg else author
                if author != expected:
                    raise ValueError(f"message {message_id} in chat {chat.id} was not sent by user {expected}")
            key = "text" if new_text is not None else "caption"
            value = new_text if new_text is not None else new_caption
            if key == "text" and "text" not in msg:
                raise ValueError(f"message {message_id} has no text to edit")
            if key == "caption" and "text" in msg:
                raise ValueError(f"message {message_id} is a text message: it has no caption")
            entities_key = "entities" if key == "text" else "caption_entities"
            msg.pop(entities_key, None)
            if value:
                msg[key] = value
                entities = _auto_entities(value)
                if entities:
                    msg[entities_key] = entities
            else:
                msg.pop(key, None)
            msg["edit_date"] = int(time.time())
            if chat.is_channel:
                self._queue({"edited_channel_post": copy.deepcopy(msg)})
            elif self._delivered_to_bot(chat, msg):
                self._queue({"edited_message": copy.deepcopy(msg)})
            else:
                self.undelivered.append(copy.deepcopy(msg))
            return copy.deepcopy(msg)

    def channel_post(
        self,
        channel: Chat,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        caption: str | None = None,
        author_signature: str | None = None,
    ) -> dict[str, Any]:
        """A post in a channel: a ``channel_post`` update (no ``from``, ``sender_chat`` = the channel)."""
        if not channel.is_channel:
            raise ValueError(f"chat {channel.id} is not a channel")
        if (text is None) == (photo is None):
            raise ValueError("pass exactly one of text and photo")
        with self._cond:
            self._chats.setdefault(channel.id, channel)
            if photo is not None:
                content: dict[str, Any] = {"photo": self._store_photo(photo, channel.id)}
                self._add_caption(content, caption)
            else:
                content = {"text": text}
                entities = _auto_entities(text or "")
                if entities:
                    content["entities"] = entities
            content["sender_chat"] = channel.to_dict()
            if author_signature:
                content["author_signature"] = author_signature
            msg = self._new_message(channel, None, content)
            self._queue({"channel_post": copy.deepcopy(msg)})
            return copy.deepcopy(msg)

    def auto_forward(
        self, channel: Chat, group: Chat, *, text: str | None = None, photo: bytes | None = None
    ) -> dict[str, Any]:
        """A channel post that Telegram forwards automatically to the channel's linked discussion group.

        Both updates are queued: the ``channel_post``, and the group's copy (``is_automatic_forward``,
        ``sender_chat`` the channel, ``from`` Telegram's service account 777000), subject to privacy mode.
        """
        post = self.channel_post(channel, text=text, photo=photo)
        content = {k: v for k, v in post.items() if k in ("text", "entities", "photo", "caption", "caption_entities")}
        content.update(
            sender_chat=channel.to_dict(),
            is_automatic_forward=True,
            forward_origin={
                "type": "channel", "chat": channel.to_dict(), "message_id": post["message_id"], "date": post["date"]
            },
        )  # fmt: skip
        service = {"id": TELEGRAM_SERVICE_ID, "is_bot": False, "first_name": "Telegram"}
        with self._cond:
            self._chats.setdefault(group.id, group)
            msg = self._new_message(group, service, content)
            if self._delivered_to_bot(group, msg):
                self._queue({"message": copy.deepcopy(msg)})
            else:
                self.undelivered.append(copy.deepcopy(msg))
            return copy.deepcopy(msg)

    def press_button(
        self,
        chat: Chat,
        user: User | None,
        message: dict[str, Any],
        callback_data: str | None = None,
        *,
        check: bool = True,
        data: str | None = None,
    ) -> str:
        """The user presses an inline button of a message; returns the callback query id.

        ``data`` forges the callback data (as a modified client can): sent as is, no button needed.
        """
        if data is not None:
            callback_data, check = data, False
        if callback_data is None:
            raise ValueError("pass callback_data (of an existing button) or data (forged)")
        user = self._who(chat, user)
        with self._cond:
            current = self._messages.get(chat.id, {}).get(message["message_id"])
            if current is None or (chat.id, message["message_id"]) in self._deleted:
                raise ValueError(f"message {message['message_id']} does not exist in chat {chat.id}")
            if check:
                buttons = [
                    b.get("callback_data")
                    for row in current.get("reply_markup", {}).get("inline_keyboard", [])
                    for b in row
                ]
                if callback_data not in buttons:
                    raise ValueError(f"no button with callback_data {callback_data!r}; buttons: {buttons}")
            query_id = str(4_000_000_000_000 + next(self._counter))
            self._users.setdefault(user.id, user)
            self._callback_queries[query_id] = {"answered": False, "chat_id": chat.id}
            self._queue(
                {
                    "callback_query": {
                        "id": query_id,
                        "from": user.to_dict(),
                        "message": copy.deepcopy(current),
                        "chat_instance": str(abs(hash((chat.id, BOT_ID)))),
                        "data": callback_data,
                    }
                }
            )
            return query_id

    def inline_query(self, user: User, query: str = "", *, offset: str = "", chat_type: str = "sender") -> str:
        """The user types ``@bot query``; returns the inline query id."""
        with self._cond:
            query_id = str(5_000_000_000_000 + next(self._counter))
            self._users.setdefault(user.id, user)
            self._inline_queries[query_id] = {"answered": False, "query": query, "user_id": user.id}
            self._queue(
                {
                    "inline_query": {
                        "id": query_id,
                        "from": user.to_dict(),
                        "query": query,
                        "offset": offset,
                        "chat_type": chat_type,
                    }
                }
            )
            return query_id

    def choose_inline_result(
        self, user: User, result_id: str, *, query: str = "", with_inline_message: bool = True
    ) -> dict[str, Any]:
        """The user picks an inline result (needs inline feedback enabled in real Telegram)."""
        with self._cond:
            chosen: dict[str, Any] = {"result_id": result_id, "from": user.to_dict(), "query": query}
            if with_inline_message:
                inline_id = f"INL_{next(self._counter)}_{uuid.uuid4().hex[:8]}"
                chosen["inline_message_id"] = inline_id
                self._inline_messages[inline_id] = {"result_id": result_id}
            self._queue({"chosen_inline_result": chosen})
            return copy.deepcopy(chosen)

    def _add_caption(self, content: dict[str, Any], caption: str | None) -> None:
        if caption:
            content["caption"] = caption
            entities = _auto_entities(caption)
            if entities:
                content["caption_entities"] = entities

    def _user_message(
        self,
        chat: Chat,
        user: User | None,
        content: dict[str, Any],
        *,
        reply_to: int | None,
        sender_chat: Chat | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        if thread_id is not None and thread_id not in self._topics.get(chat.id, set()):
            raise ValueError(f"chat {chat.id} has no topic {thread_id}")
        if sender_chat is not None:
            sender = self._on_behalf_of(chat, sender_chat)
            content = {**content, "sender_chat": sender_chat.to_dict()}
        else:
            user = self._who(chat, user)
            sender = user.to_dict()
        with self._cond:
            self._chats.setdefault(chat.id, chat)
            if sender_chat is None and user is not None:
                self._users.setdefault(user.id, user)
            msg = self._new_message(chat, sender, content)
            if reply_to is not None:
                target = self._messages.get(chat.id, {}).get(reply_to)
                if target is None:
                    raise ValueError(f"cannot reply to unknown message {reply_to} in chat {chat.id}")
                msg["reply_to_message"] = self._nested(target)
                if target.get("is_topic_message"):  # a reply stays in the topic of what it answers
                    thread_id = target["message_thread_id"]
            if thread_id is not None:
                msg["message_thread_id"], msg["is_topic_message"] = thread_id, True
                # Telegram's quirk: a message in a topic that replies to nothing replies to the topic's creation.
                msg.setdefault("reply_to_message", self._nested(self._messages[chat.id][thread_id]))
            if self._delivered_to_bot(chat, msg):
                self._queue({"message": copy.deepcopy(msg)})
            else:
                self.undelivered.append(copy.deepcopy(msg))
            return copy.deepcopy(msg)

    @staticmethod
    def _on_behalf_of(chat: Chat, sender_chat: Chat) -> dict[str, Any]:
        """The ``from`` of a group message sent as ``sender_chat``: the group itself or a channel."""
        if not chat.is_group:
            raise ValueError("only group messages can be sent on behalf of a chat")
        if sender_chat.id == chat.id:
            return {
                "id": GROUP_ANONYMOUS_BOT_ID,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }
        if sender_chat.is_channel:
            return {"id": CHANNEL_BOT_ID, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
        raise ValueError("sender_chat must be the group itself (anonymous admin) or a channel")

    def _delivered_to_bot(self, chat: Chat, msg: dict[str, Any]) -> bool:
        """Privacy mode: in groups only commands, replies to the bot and mentions reach the bot."""
        if not self.privacy_mode or not chat.is_group or (chat.id, BOT_ID) in self._admins:
            return True
        text = msg.get("text") or msg.get("caption") or ""
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            target = command.partition("@")[2]
            return not target or target.lower() == self.bot_username.lower()
        reply = msg.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == BOT_ID:
            return True
        return f"@{self.bot_username.lower()}" in text.lower()

    def _queue(self, update: dict[str, Any]) -> None:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._cond.notify_all()

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by the bot (via getUpdates offset)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def take_updates(self) -> list[dict[str, Any]]:
        """Remove and return the queued updates (to deliver them by webhook instead of getUpdates)."""
        with self._lock:
            taken, self._updates = self._updates, []
            return taken

    @staticmethod
    def post_update_to(
        url: str, update: dict[str, Any], secret_token: str | None = None, *, timeout: float = 10.0
    ) -> int:
        """POST an update as Telegram's webhook does (JSON, ``X-Telegram-Bot-Api-Secret-Token``); HTTP status."""
        if urlsplit(url).hostname != "127.0.0.1":
            raise ValueError(f"post_update_to only posts to 127.0.0.1, not {url!r}")
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    # ------------------------------------------------------------------ what the bot did

    def calls_of(self, method: str) -> list[Call]:
        """Calls of one Bot API method (case-insensitive), in order."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    def callback_chat(self, callback_query_id: object) -> int | None:
        """The chat a callback query came from (for matching its answer to a user)."""
        with self._lock:
            return self._callback_queries.get(str(callback_query_id), {}).get("chat_id")

    def answered_callbacks(self) -> list[Call]:
        """Successful answerCallbackQuery calls."""
        return [c for c in self.calls_of("answerCallbackQuery") if c.error is None]

    def inline_answers(self) -> list[Call]:
        """Successful answerInlineQuery calls."""
        return [c for c in self.calls_of("answerInlineQuery") if c.error is None]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Current state (edits applied, deleted ones left out) of the bot's messages in a chat."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(chat_id, {}).values()
                if m.get("from", {}).get("id") == BOT_ID and (chat_id, m["message_id"]) not in self._deleted
            ]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Current state of all messages (users' and bot's, not deleted) in a chat."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(chat_id, {}).values()
                if (chat_id, m["message_id"]) not in self._deleted
            ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of one message (None when unknown or deleted)."""
        with self._lock:
            m = self._messages.get(chat_id, {}).get(message_id)
            return None if m is None or (chat_id, message_id) in self._deleted else copy.deepcopy(m)

    def commands_for(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands set by setMyCommands for a scope (default scope when None)."""
        with self._lock:
            return copy.deepcopy(self.commands.get(self._scope_key(scope, language_code), []))

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (e.g. 429 with retry_after, 500, 400)."""
        with self._lock:
            self._errors.setdefault(method.lower(), []).append(
                _ScheduledError(times, _api_error(error_code, description, retry_after), raw_body)
            )

    def fault(
        self,
        method: str,
        *,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int | None = None,
        chat_id: int | None = None,
        file_id: str | None = None,
        duration_s: float | None = None,
        raw_body: bytes | None = None,
        probability: float = 1.0,
    ) -> Fault:
        """Add a lasting fault rule for ``method`` ("*": any Bot API method; DOWNLOAD: file downloads).

        The call waits ``delay`` seconds (without holding the fake's lock), then fails with
        ``error_code`` (Telegram's description for it unless ``description``; 429 carries
        ``retry_after``; ``raw_body`` replaces the JSON body) or, without ``error_code``, is carried
        out normally: a delay beyond the client's read timeout makes PTB raise ``TimedOut`` while
        the fake still carries the call out afterwards, as Telegram may. ``times`` limits it
        to that many calls (None: until removed), ``chat_id`` to calls for that chat (getFile and
        downloads: files users sent there; answerCallbackQuery: queries from there), ``file_id``
        to getFile/downloads of that file, ``duration_s`` to that many seconds from now. The
        oldest matching rule applies; ``fail_next`` errors come first. ``probability`` makes a rule apply
        to that fraction of its matching calls, chosen by the fake's seeded random generator.
        """
        if error_code is None and delay <= 0:
            raise ValueError("a fault needs an error_code, a delay or both")
        rule = Fault(
            method=method.lower(),
            error=None if error_code is None else _api_error(error_code, description, retry_after),
            delay=float(delay),
            times=times,
            chat_id=chat_id,
            file_id=file_id,
            until=None if duration_s is None else time.monotonic() + duration_s,
            raw_body=raw_body,
            probability=probability,
            _fake=self,
        )
        with self._lock:
            self._faults.append(rule)
        return rule

    def delay_download(
        self,
        delay: float,
        *,
        file_id: str | None = None,
        chat_id: int | None = None,
        times: int | None = None,
        duration_s: float | None = None,
    ) -> Fault:
        """Make downloads of one file (or of files users sent in one chat, or of all files) slow."""
        return self.fault(DOWNLOAD, delay=delay, file_id=file_id, chat_id=chat_id, times=times, duration_s=duration_s)

    def clear_faults(self) -> None:
        """Remove every fault rule and pending ``fail_next`` error."""
        with self._lock:
            self._faults.clear()
            self._errors.clear()

    def _match_fault(self, method: str, chat_id: int | None, file_id: str | None) -> Fault | None:
        """The oldest rule matching a call (counted as applied), dropping expired ones; under the lock."""
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.until is None or now < f.until]
        for rule in self._faults:
            if rule.method not in ("*", method) or (rule.method == "*" and method == DOWNLOAD):
                continue
            if rule.chat_id is not None and rule.chat_id != chat_id:
                continue
            if rule.file_id is not None and rule.file_id != file_id:
                continue
            if rule.probability < 1.0 and self._random.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._faults.remove(rule)
            return rule
        return None

    def _call_target(self, method: str, params: dict[str, Any]) -> tuple[int | None, str | None]:
        """The chat id and file id a Bot API call is about (for fault rules); under the lock."""
        chat_id: int | None = None
        if params.get("chat_id") is not None:
            try:
                chat_id = self._chat(params["chat_id"]).id
            except ApiError:
                chat_id = int(params["chat_id"]) if re.fullmatch(r"-?\d+", str(params["chat_id"])) else None
        elif method == "answercallbackquery":
            chat_id = self._callback_queries.get(str(params.get("callback_query_id", "")), {}).get("chat_id")
        elif method == "answerinlinequery":
            chat_id = self._inline_queries.get(str(params.get("inline_query_id", "")), {}).get("user_id")
        file_id = str(params["file_id"]) if params.get("file_id") is not None else None
        if file_id is not None and chat_id is None and file_id in self._files:
            chat_id = self._files[file_id].chat_id
        return chat_id, file_id

    def first_reply_after(self, chat_id: int, t0: float) -> Call | None:
        """The first successful send* call to a chat that arrived at or after ``t0`` (``time.time()``).

        Its ``result`` is the sent message (a list for sendMediaGroup), ``finished - t0`` how long
        the bot took to reply; None when there is none yet.
        """
        with self._lock:
            for call in self.calls:
                key = call.method.lower()
                if not key.startswith(("send", "copymessage", "forwardmessage")) or key == "sendchataction":
                    continue
                if call.time < t0 or not call.ok or call.finished is None:
                    continue
                if str(call.params.get("chat_id")) == str(chat_id):
                    return call
        return None

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self.calls.clear()
            self.downloads.clear()

    def wait_for(self, predicate: Callable[[], T | bool | None], timeout: float = 30.0, what: str = "") -> T:
        """Wait until predicate() is truthy and return its value; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value  # type: ignore[return-value]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(timeout, what))
                self._cond.wait(min(remaining, 0.1))

    async def wait_for_async(
        self, predicate: Callable[[], T | bool | None], timeout: float = 30.0, what: str = ""
    ) -> T:
        """Like :meth:`wait_for` without blocking the event loop (for a bot in the same loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = predicate()
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(timeout, what))
            await asyncio.sleep(0.02)

    def _timeout_message(self, timeout: float, what: str) -> str:
        recent = [c for c in self.calls if c.method.lower() != "getupdates"][-15:]
        lines = "\n  ".join(c.summary() for c in recent) or "(none)"
        return f"timed out after {timeout:.1f}s waiting for {what or 'condition'}; last bot calls:\n  {lines}"

    # ------------------------------------------------------------------ request handling

    def _injected_error(self, call: Call, key: str, params: dict[str, Any]) -> tuple[int, bytes] | None:
        """Record the call, apply ``fail_next`` errors and fault rules (delays sleep without the lock)."""
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()
            scheduled = self._errors.get(key)
            if scheduled:
                err = scheduled[0]
                err.remaining -= 1
                if err.remaining <= 0:
                    scheduled.pop(0)
                call.error = err.error.to_dict()
                call.finished = time.time()
                self._cond.notify_all()
                if err.raw_body is not None:
                    return err.error.code, err.raw_body
                return err.error.code, json.dumps(call.error).encode()
            rule = self._match_fault(key, *self._call_target(key, params)) if self._faults else None
        if rule is None:
            return None
        if rule.delay > 0:
            self._stop_event.wait(rule.delay)  # the lock is free: other calls go on meanwhile
        if rule.error is None:
            return None
        with self._cond:
            call.error = rule.error.to_dict()
            call.finished = time.time()
            self._cond.notify_all()
        return rule.error.code, rule.raw_body or json.dumps(call.error).encode()

    def _handle(
        self, token: str, method: str, params: dict[str, Any], uploads: dict[str, _Upload]
    ) -> tuple[int, bytes]:
        if token != self.token:
            return 401, json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}).encode()
        call = Call(
            method=method,
            params=params,
            uploads={k: u.data for k, u in uploads.items()},
            upload_names={k: u.filename for k, u in uploads.items()},
            time=time.time(),
        )
        try:
            return self._handle_call(call, params, uploads)
        finally:
            if call.finished is None:  # an unexpected exception: keep the record consistent
                with self._cond:
                    call.finished = time.time()
                    self._cond.notify_all()

    def _handle_call(self, call: Call, params: dict[str, Any], uploads: dict[str, _Upload]) -> tuple[int, bytes]:
        method = call.method
        key = method.lower()
        injected = self._injected_error(call, key, params)
        if injected is not None:
            return injected
        handler = self._methods.get(key)
        try:
            if handler is None:
                raise ApiError(400, f"Bad Request: method {method} is not implemented by FakeTelegram")
            if key == "getupdates":
                result = handler(params, uploads)  # waits on the condition itself
                with self._cond:
                    call.result = result
                    call.finished = time.time()
                    self._cond.notify_all()
            else:
                with self._cond:
                    result = handler(params, uploads)
                    call.result = copy.deepcopy(result)
                    call.finished = time.time()
                    self._cond.notify_all()
        except ApiError as exc:
            with self._cond:
                call.error = exc.to_dict()
                call.finished = time.time()
                self._cond.notify_all()
            return exc.code, json.dumps(call.error).encode()
        except Exception as exc:  # a bug in the fake or a malformed request: report it as a 400
            traceback.print_exc()
            with self._cond:
                call.error = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc!r}"}
                call.finished = time.time()
                self._cond.notify_all()
            return 400, json.dumps(call.error).encode()
        return 200, json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()

    # ------------------------------------------------------------------ helpers for methods

    def _chat(self, chat_id: Any) -> Chat:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.user and chat.user.username and f"@{chat.user.username}" == chat_id:
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        try:
            found = self._chats.get(int(chat_id))
        except (TypeError, ValueError):
            found = None
        if found is None:
            raise ApiError(400, "Bad Request: chat not found")
        return found

    def _sendable_chat(self, chat_id: Any) -> Chat:
        chat = self._chat(chat_id)
        self._check_reachable(chat)
        return chat

    def _check_reachable(self, chat: Chat) -> None:
        """403 when the user blocked the bot or the bot was kicked; 400 with the new id for a migrated group."""
        if chat.id in self._migrated:
            raise ApiError(400, ERR_MIGRATED, {"migrate_to_chat_id": self._migrated[chat.id]})
        if chat.type == "private" and chat.id in self._blocked:
            raise ApiError(403, ERR_BLOCKED)
        if chat.id in self._kicked:
            raise ApiError(
                403,
                {"group": ERR_KICKED_GROUP, "channel": ERR_NOT_IN_CHANNEL}.get(chat.type, ERR_KICKED_SUPERGROUP),
            )

    def _check_media_rights(self, chat: Chat, kind: str) -> None:
        """400 when the bot may not send this kind of media to the chat (see ``set_no_media``)."""
        if chat.id in self._no_media and kind in _RIGHTS_NOUNS:
            raise ApiError(400, f"Bad Request: not enough rights to send {_RIGHTS_NOUNS[kind]} to the chat")

    def _new_message(self, chat: Chat, sender: dict[str, Any] | None, content: dict[str, Any]) -> dict[str, Any]:
        """Store a new message; ``sender`` None for channel posts (which have no ``from``)."""
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        msg: dict[str, Any] = {"message_id": message_id}
        if sender is not None:
            msg["from"] = dict(sender)
        msg.update({"chat": chat.to_dict(), "date": int(time.time()), **content})
        self._messages.setdefault(chat.id, {})[message_id] = msg
        return msg

    @staticmethod
    def _nested(msg: dict[str, Any]) -> dict[str, Any]:
        nested = copy.deepcopy(msg)
        nested.pop("reply_to_message", None)
        return nested

    def _stored_message(self, chat_id: Any, message_id: Any, missing: str) -> dict[str, Any]:
        chat = self._chat(chat_id)
        msg = self._messages.get(chat.id, {}).get(int(message_id or 0))
        if msg is None or (chat.id, msg["message_id"]) in self._deleted:
            raise ApiError(400, f"Bad Request: {missing}")
        return msg

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; return it when it is attached to the message (inline keyboards only)."""
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup if markup["inline_keyboard"] else None

    def _bot_send(self, chat: Chat, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        """Create a bot message with reply/markup handling; returns the stored message."""
        reply_msg: dict[str, Any] | None = None
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        if reply_id:
            reply_chat = self._chat(reply.get("chat_id", chat.id)) if isinstance(reply, dict) else chat
            found = self._messages.get(reply_chat.id, {}).get(int(reply_id))
            if found is None or (reply_chat.id, int(reply_id)) in self._deleted:
                allow = reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")
                if not allow:
                    raise ApiError(400, ERR_REPLY_NOT_FOUND)
            else:
                reply_msg = found
        thread = params.get("message_thread_id")
        if thread is not None and int(thread) not in self._topics.get(chat.id, set()):
            raise ApiError(400, ERR_THREAD_NOT_FOUND)
        if thread is None and reply_msg is not None and reply_msg.get("is_topic_message"):
            thread = reply_msg["message_thread_id"]  # a reply lands in the topic of the message it answers
        markup = self._check_markup(params.get("reply_markup"))
        msg = self._new_message(chat, self.bot_user, content)
        if thread is not None:
            msg["message_thread_id"], msg["is_topic_message"] = int(thread), True
        if reply_msg is not None:
            msg["reply_to_message"] = self._nested(reply_msg)
        if markup is not None:
            msg["reply_markup"] = markup
        return msg

    def _text_content(self, params: dict[str, Any], key: str, limit: int) -> dict[str, Any]:
        raw = params.get(key)
        if raw is None or raw == "":
            return {}
        explicit = params.get("caption_entities" if key == "caption" else "entities")
        text, entities = _render(str(raw), params.get("parse_mode"), explicit)
        if not text.strip() and key == "text":
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            raise ApiError(
                400,
                "Bad Request: message caption is too long" if key == "caption" else "Bad Request: message is too long",
            )
        content: dict[str, Any] = {key: text}
        if entities:
            content["entities" if key == "text" else "caption_entities"] = entities
        return content

    def _media_json(self, entry: _FileEntry) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": entry.size,
        }
        if entry.kind in ("animation", "video"):
            data.update({"width": entry.width, "height": entry.height, "duration": entry.duration})
        if entry.kind == "video_note":
            data.update({"length": entry.width, "duration": entry.duration})
        if entry.kind == "sticker":
            data.update(entry.sticker or {"width": entry.width, "height": entry.height})
        if entry.file_name:
            data["file_name"] = entry.file_name
        if entry.mime_type:
            data["mime_type"] = entry.mime_type
        return data

    def _resolve_input(  # noqa: PLR0912
        self,
        kind: str,
        value: Any,
        upload: _Upload | None,
        uploads: dict[str, _Upload],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """Turn an InputFile / attach:// / file_id into the message content for ``kind``."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
            if upload is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if upload is not None:
            if len(upload.data) == 0:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(upload.data) > (MAX_PHOTO_UPLOAD if kind == "photo" else MAX_UPLOAD):
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo":
                return {"photo": self._store_photo(upload.data)}
            entry = self._store_file(
                upload.data,
                kind,
                file_name=params.get("file_name") or upload.filename,
                mime_type=upload.content_type,
                width=int(params.get("width") or 0),
                height=int(params.get("height") or 0),
                duration=int(params.get("duration") or 0),
            )
            content = {kind: self._media_json(entry)}
            if kind == "animation":
                content["document"] = self._media_json(entry)  # Telegram sets both
            return content
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        known = self._files.get(value)
        if known is None:
            raise ApiError(400, _WRONG_FILE)
        entry = known
        if (kind == "photo") != (entry.kind == "photo"):
            raise ApiError(400, f"Bad Request: can't use file of type {entry.kind.title()} as {kind.title()}")
        if kind == "photo":
            return {"photo": copy.deepcopy(entry.photo_sizes or [entry.photo_size()])}
        content = {kind: self._media_json(entry)}
        if kind == "animation":
            content["document"] = self._media_json(entry)
        return content

    @staticmethod
    def _scope_key(scope: Any, language_code: Any) -> str:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + str(language_code or "")

    # ------------------------------------------------------------------ Bot API methods

    def _m_get_me(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return copy.deepcopy(self.bot_user)

    def _m_get_updates(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        offset = p.get("offset")
        limit = max(1, min(100, int(p.get("limit") or 100)))
        timeout = min(float(p.get("timeout") or 0), MAX_POLL_TIMEOUT)
        with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()  # an older long poll still waiting gets 409 Conflict
            if offset is not None:
                offset = int(offset)
                if offset < 0:
                    self._updates = self._updates[offset:]
                else:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
            deadline = time.monotonic() + timeout
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, _CONFLICT)
                if self._updates or self.stopped:
                    return copy.deepcopy(self._updates[:limit])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def _m_delete_webhook(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self.webhook = {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_get_webhook_info(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        url = self.webhook.get("url", "")
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _m_set_webhook(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        # Recorded only: tests deliver updates themselves with take_updates() and post_update_to().
        self.webhook = {"url": str(p.get("url") or ""), "secret_token": p.get("secret_token")}
        return True

    def _m_set_my_commands(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        commands = p.get("commands") or []
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(p.get("scope"), p.get("language_code"))] = list(commands)
        return True

    def _m_get_my_commands(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return copy.deepcopy(self.commands.get(self._scope_key(p.get("scope"), p.get("language_code")), []))

    def _m_delete_my_commands(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self.commands.pop(self._scope_key(p.get("scope"), p.get("language_code")), None)
        return True

    def _m_set_chat_menu_button(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self.menu_buttons.append({"chat_id": p.get("chat_id"), "menu_button": p.get("menu_button")})
        return True

    def _m_close(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return True

    def _m_log_out(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return True

    def _m_get_file(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        entry = self._files.get(str(p.get("file_id", "")))
        if entry is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if entry.size > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": entry.size,
            "file_path": entry.file_path,
        }

    def _m_send_message(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._sendable_chat(p.get("chat_id"))
        if not p.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        content = self._text_content(p, "text", MAX_TEXT_LENGTH)
        return copy.deepcopy(self._bot_send(chat, p, content))

    def _send_media(self, kind: str, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._sendable_chat(p.get("chat_id"))
        self._check_media_rights(chat, kind)
        caption = self._text_content(p, "caption", MAX_CAPTION_LENGTH)
        content = self._resolve_input(kind, p.get(kind), up.get(kind), up, p)
        content.update(caption)
        if p.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return copy.deepcopy(self._bot_send(chat, p, content))

    def _m_send_photo(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return self._send_media("photo", p, up)

    def _m_send_document(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return self._send_media("document", p, up)

    def _m_send_video(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return self._send_media("video", p, up)

    def _m_send_media_group(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._sendable_chat(p.get("chat_id"))
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album, must be 2-10")
        kinds = {item.get("type") for item in media}
        if "document" in kinds and len(kinds) > 1:
            raise ApiError(400, "Bad Request: document can't be mixed with other media types")
        for item in media:
            self._check_media_rights(chat, str(item.get("type")))
        contents = []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "video", "document", "audio", "animation"):
                raise ApiError(400, f"Bad Request: unsupported media type {kind!r} in the album")
            content = self._resolve_input(kind, item.get("media"), None, up, item)
            content.update(self._text_content(item, "caption", MAX_CAPTION_LENGTH))
            contents.append(content)
        group_id = str(14_000_000_000_000_000 + next(self._counter))
        messages = []
        for content in contents:
            msg = self._bot_send(chat, {**p, "reply_markup": None}, {**content, "media_group_id": group_id})
            messages.append(copy.deepcopy(msg))
        return messages

    def _m_send_animation(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        upload = up.get("animation")
        facts = clip_facts(upload.data) if upload is not None else None
        if facts is not None and facts.has_audio:
            # With a sound track Telegram's clients show a video, not a GIF: recorded as what people would see.
            return self._send_media("video", {**p, "video": p.get("animation")}, {"video": upload} if upload else up)
        return self._send_media("animation", p, up)

    def _m_send_video_note(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        upload = up.get("video_note")
        if upload is not None:
            facts = clip_facts(upload.data)
            if facts is None:
                raise ApiError(400, "Bad Request: wrong file type")
            if facts.width != facts.height:
                raise ApiError(400, "Bad Request: video note must be square")
            if facts.width >= MAX_VIDEO_NOTE_SIDE:
                raise ApiError(400, "Bad Request: video note dimensions are too big")
            if facts.duration > 60.5:
                raise ApiError(400, "Bad Request: video note is too long")
            p = {**p, "width": facts.width, "duration": max(1, round(facts.duration))}
        return self._send_media("video_note", p, up)

    def _m_send_sticker(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._sendable_chat(p.get("chat_id"))
        self._check_media_rights(chat, "sticker")
        upload = up.get("sticker")
        if upload is not None and upload.data[:4] == WEBM_MAGIC:
            # As on Telegram: a bare WEBM sent as a sticker arrives as a file; it must be in a set first.
            entry = self._store_file(upload.data, "document", file_name=upload.filename, mime_type="video/webm")
            return copy.deepcopy(self._bot_send(chat, p, {"document": self._media_json(entry)}))
        if upload is not None:
            info = _image_info(upload.data)
            if info is None or info.format != "WEBP":
                raise ApiError(400, "Bad Request: wrong file type")
            entry = self._store_file(upload.data, "sticker", width=info.width, height=info.height)
            entry.sticker = {"type": "regular", "width": info.width, "height": info.height, "is_video": False,
                             "is_animated": False}  # fmt: skip
            return copy.deepcopy(self._bot_send(chat, p, {"sticker": self._media_json(entry)}))
        known = self._files.get(str(p.get("sticker") or ""))
        if known is None or known.kind != "sticker":
            raise ApiError(400, _WRONG_FILE)
        return copy.deepcopy(self._bot_send(chat, p, {"sticker": self._media_json(known)}))

    def _m_upload_sticker_file(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self._sticker_owner(p.get("user_id"))
        upload = up.get("sticker")
        if upload is None:
            raise ApiError(400, "Bad Request: there is no sticker in the request")
        entry = self._sticker_entry(upload.data, str(p.get("sticker_format") or "static"))
        return {"file_id": entry.file_id, "file_unique_id": entry.file_unique_id, "file_size": len(entry.data)}

    def _m_create_new_sticker_set(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        owner = self._sticker_owner(p.get("user_id"))
        name = str(p.get("name") or "")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name) or not name.endswith(f"_by_{self.bot_username}"):
            raise ApiError(400, "Bad Request: invalid sticker set name is specified")
        if name in self.sticker_sets:
            raise ApiError(400, "Bad Request: sticker set name is already occupied")
        stickers = p.get("stickers")
        if not isinstance(stickers, list) or not 1 <= len(stickers) <= 50:
            raise ApiError(400, "Bad Request: wrong number of stickers")
        entries = [self._input_sticker(item, up) for item in stickers]
        self.sticker_sets[name] = {"name": name, "title": str(p.get("title") or ""), "owner": owner, "stickers": []}
        for entry in entries:
            self._into_set(name, entry)
        return True

    def _m_add_sticker_to_set(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        owner = self._sticker_owner(p.get("user_id"))
        found = self.sticker_sets.get(str(p.get("name") or ""))
        if found is None or found["owner"] != owner:
            raise ApiError(400, ERR_STICKERSET_INVALID)
        if len(found["stickers"]) >= 120:
            raise ApiError(400, "Bad Request: STICKERS_TOO_MUCH")
        raw = p.get("sticker")
        item = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw
        self._into_set(found["name"], self._input_sticker(item, up))
        return True

    def _m_get_sticker_set(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        found = self.sticker_sets.get(str(p.get("name") or ""))
        if found is None:
            raise ApiError(400, ERR_STICKERSET_INVALID)
        stickers = [self._media_json(self._files[file_id]) for file_id in found["stickers"]]
        return {"name": found["name"], "title": found["title"], "sticker_type": "regular", "stickers": stickers}

    def _m_delete_sticker_from_set(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        file_id = str(p.get("sticker") or "")
        for found in self.sticker_sets.values():
            if file_id in found["stickers"]:
                found["stickers"].remove(file_id)
                return True
        raise ApiError(400, "Bad Request: STICKER_INVALID")

    def _sticker_owner(self, user_id: Any) -> int:
        """A set's owner must be a user who has a private chat with the bot."""
        owner = int(user_id or 0)
        if owner not in self._chats or self._chats[owner].is_group or owner in self._blocked:
            raise ApiError(400, "Bad Request: PEER_ID_INVALID")
        return owner

    def _input_sticker(self, item: Any, up: dict[str, _Upload]) -> _FileEntry:
        """The file an InputSticker names (an upload, or a known file id), checked against its format."""
        if not isinstance(item, dict) or not item.get("emoji_list"):
            raise ApiError(400, "Bad Request: invalid sticker emojis")
        value, sticker_format = item.get("sticker"), str(item.get("format") or "")
        if isinstance(value, str) and value.startswith("attach://"):
            upload = up.get(value[len("attach://") :])
            if upload is None:
                raise ApiError(400, _WRONG_FILE)
            return self._sticker_entry(upload.data, sticker_format)
        known = self._files.get(str(value or ""))
        if known is None:
            raise ApiError(400, _WRONG_FILE)
        if known.kind == "sticker":
            return known
        return self._sticker_entry(known.data, sticker_format)

    def _sticker_entry(self, data: bytes, sticker_format: str) -> _FileEntry:
        """A new sticker file, refused as Telegram would when it breaks the format's rules."""
        if sticker_format == "video":
            facts = clip_facts(data)
            if data[:4] != WEBM_MAGIC or facts is None or facts.codec not in ("vp9", "libvpx-vp9"):
                raise ApiError(400, "Bad Request: STICKER_VIDEO_NOWEBM")
            if len(data) > MAX_VIDEO_STICKER_BYTES or facts.duration > 3.05 or facts.has_audio:
                raise ApiError(400, "Bad Request: STICKER_VIDEO_LONG")
            if max(facts.width, facts.height) != STICKER_SIDE:
                raise ApiError(400, "Bad Request: STICKER_VIDEO_DIMENSIONS")
            width, height = facts.width, facts.height
        elif sticker_format == "static":
            info = _image_info(data)
            if info is None or info.format not in ("WEBP", "PNG"):
                raise ApiError(400, "Bad Request: STICKER_PNG_NOPNG")
            if max(info.width, info.height) != STICKER_SIDE:
                raise ApiError(400, "Bad Request: STICKER_PNG_DIMENSIONS")
            width, height = info.width, info.height
        else:
            raise ApiError(400, "Bad Request: invalid sticker format")
        entry = self._store_file(data, "sticker", width=width, height=height)
        entry.sticker = {"type": "regular", "width": width, "height": height, "is_video": sticker_format == "video",
                         "is_animated": False}  # fmt: skip
        return entry

    def _into_set(self, name: str, entry: _FileEntry) -> None:
        """A sticker joins a set (a copy under a new file id, as Telegram makes)."""
        copy_entry = self._store_file(entry.data, "sticker", width=entry.width, height=entry.height)
        copy_entry.sticker = {**(entry.sticker or {}), "set_name": name, "emoji": "🎨"}
        self.sticker_sets[name]["stickers"].append(copy_entry.file_id)

    def _m_send_chat_action(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self._sendable_chat(p.get("chat_id"))
        return True

    def _edit_target(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """The stored message to edit, or None for an inline message."""
        if p.get("inline_message_id"):
            if str(p["inline_message_id"]) not in self._inline_messages:
                raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
            return None
        self._check_reachable(self._chat(p.get("chat_id")))
        msg = self._stored_message(p.get("chat_id"), p.get("message_id"), "message to edit not found")
        if msg.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _apply_edit(self, msg: dict[str, Any], new: dict[str, Any], p: dict[str, Any], keys: tuple[str, ...]) -> Any:
        markup = self._check_markup(p.get("reply_markup"))
        old_view = {k: msg.get(k) for k in (*keys, "reply_markup")}
        new_view = {k: new.get(k) for k in keys} | {"reply_markup": markup}
        if old_view == new_view:
            raise ApiError(400, _NOT_MODIFIED)
        for k in keys:
            if new.get(k) is None:
                msg.pop(k, None)
            else:
                msg[k] = new[k]
        if markup is None:
            msg.pop("reply_markup", None)  # Telegram drops the keyboard unless it is passed again
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        return copy.deepcopy(msg)

    def _m_edit_message_text(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        msg = self._edit_target(p)
        if not p.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        content = self._text_content(p, "text", MAX_TEXT_LENGTH)
        if msg is None:
            self._inline_messages[str(p["inline_message_id"])].update(content)
            return True
        if "text" not in msg:
            raise ApiError(400, ERR_NO_TEXT_TO_EDIT)
        return self._apply_edit(msg, content, p, ("text", "entities"))

    def _m_edit_message_caption(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        msg = self._edit_target(p)
        content = self._text_content(p, "caption", MAX_CAPTION_LENGTH)
        if msg is None:
            self._inline_messages[str(p["inline_message_id"])].update(content)
            return True
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._apply_edit(msg, content, p, ("caption", "caption_entities"))

    def _m_edit_message_reply_markup(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        msg = self._edit_target(p)
        if msg is None:
            self._check_markup(p.get("reply_markup"))
            return True
        return self._apply_edit(msg, {}, p, ())

    def _m_edit_message_media(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        msg = self._edit_target(p)
        media = p.get("media")
        if not isinstance(media, dict):
            raise ApiError(400, "Bad Request: media not specified")
        kind = media.get("type", "")
        if msg is not None:
            self._check_media_rights(self._chat(msg["chat"]["id"]), kind)
        content = self._resolve_input(kind, media.get("media"), None, up, media)
        content.update(self._text_content(media, "caption", MAX_CAPTION_LENGTH))
        if msg is None:
            self._inline_messages[str(p["inline_message_id"])].update(content)
            return True
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no media in the message to edit")
        for k in (*_MEDIA_KINDS, "caption", "caption_entities"):
            msg.pop(k, None)
        return self._apply_edit(msg, content, p, tuple(content))

    def _m_delete_message(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._chat(p.get("chat_id"))
        if chat.id in self._kicked:
            self._check_reachable(chat)
        msg = self._stored_message(p.get("chat_id"), p.get("message_id"), "message to delete not found")
        self._deleted.add((msg["chat"]["id"], msg["message_id"]))
        return True

    def _m_answer_callback_query(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        query = self._callback_queries.get(str(p.get("callback_query_id", "")))
        if query is not None and query.get("chat_id") in self._chats:
            self._check_reachable(self._chats[query["chat_id"]])
        if query is None or query["answered"]:
            raise ApiError(400, _QUERY_TOO_OLD)
        if len(str(p.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        return True

    def _m_answer_inline_query(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        query = self._inline_queries.get(str(p.get("inline_query_id", "")))
        if query is None or query["answered"]:
            raise ApiError(400, _QUERY_TOO_OLD)
        results = p.get("results") or []
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: results must be an array")
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) for r in results]
        if len(set(ids)) != len(ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        if any(not 1 <= len(i.encode()) <= 64 for i in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        for r in results:
            for key, value in r.items():
                if key.endswith("_file_id"):
                    entry = self._files.get(str(value))
                    if entry is None:
                        raise ApiError(400, _WRONG_FILE)
                    if (key == "photo_file_id") != (entry.kind == "photo"):
                        raise ApiError(400, f"Bad Request: can't use file of type {entry.kind.title()} as {key}")
        query["answered"] = True
        return True

    def _m_get_chat_member(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._chat(p.get("chat_id"))
        user_id = int(p.get("user_id") or 0)
        if user_id == BOT_ID:
            user_dict = copy.deepcopy(self.bot_user)
        elif user_id in self._users:
            user_dict = self._users[user_id].to_dict()
        else:
            raise ApiError(400, "Bad Request: user not found")
        if (chat.id, user_id) in self._admins:
            flags = [
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
                "can_pin_messages",
            ]
            return {
                "status": "administrator",
                "user": user_dict,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_promote_members": False,
                **dict.fromkeys(flags, True),
            }
        return {"status": "member", "user": user_dict}

    def _m_get_chat(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        chat = self._chat(p.get("chat_id"))
        return {
            **chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
