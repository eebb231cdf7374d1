"""A fake Telegram Bot API HTTP server for end-to-end tests of the bot.

The server is a real HTTP server (stdlib ``ThreadingHTTPServer``) on 127.0.0.1 with an ephemeral
port, running in a background thread of the test process, so the bot can run in the same process
or in a separate one. Point PTB at it with ``base_url=fake.base_url`` and
``base_file_url=fake.base_file_url``.

Tests act as Telegram users through :class:`FakeTelegram` methods (``send_text``, ``send_photo``,
``press_button``, ``inline_query``...), which queue updates for ``getUpdates``, and inspect what the
bot did through ``calls``, ``bot_messages`` and ``file_bytes``.

Realistic behaviour that bots must cope with is simulated: privacy mode in groups, parse-mode
errors (``can't parse entities``), "message is not modified" on identical edits, edits removing an
inline keyboard unless it is passed again, callback/inline queries answered twice, unknown
``file_id``, files too big for ``getFile``, ``409 Conflict`` when a second ``getUpdates`` starts
while one is still waiting (the older one is terminated), and scheduled errors (``fail_next``).
"""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import email.utils
import html
import io
import itertools
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

T = TypeVar("T")

BOT_ID = 999000
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
_MEDIA_KINDS = ("photo", "document", "animation", "video", "audio", "voice", "sticker")
_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"


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
    """A chat: ``private`` (then ``user`` is the other side) or ``supergroup``."""

    id: int
    type: str
    title: str | None = None
    user: User | None = None

    def to_dict(self) -> dict[str, Any]:
        """Bot API ``Chat`` JSON."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
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
    """One Bot API request made by the bot."""

    method: str
    params: dict[str, Any]
    uploads: dict[str, bytes] = field(default_factory=dict)
    upload_names: dict[str, str] = field(default_factory=dict)
    time: float = 0.0
    result: Any = None
    error: dict[str, Any] | None = None

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

    def ref(self) -> FileRef:
        return FileRef(
            self.file_id,
            self.file_unique_id,
            self.file_path,
            len(self.data),
            self.kind,
            self.width,
            self.height,
        )

    def photo_size(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
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


class _ParseError(Exception):
    pass


class _EntityBuilder:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.pos = 0
        self.entities: list[dict[str, Any]] = []

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.pos += _u16(text)

    def add(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ATTR_RE = re.compile(r"""([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9A-Fa-f]+|lt|gt|amp|quot);")


def _parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:  # noqa: PLR0912, PLR0915
    b = _EntityBuilder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "<":
            byte_offset = len(src[:i].encode())
            end = src.find(">", i)
            if end == -1:
                raise _ParseError(f"Unclosed start tag at byte offset {byte_offset}")
            inner = src[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise _ParseError(f"Unexpected end tag at byte offset {byte_offset}")
                tag, start, attrs = stack.pop()
                if name and name != tag:
                    raise _ParseError(
                        f'Unmatched end tag at byte offset {byte_offset}, expected "</{tag}>", found "</{name}>"'
                    )
                kind = _HTML_TAGS[tag]
                if kind == "text_link":
                    b.add(kind, start, url=attrs.get("href", ""))
                elif kind == "code" and stack and stack[-1][0] == "pre":
                    lang = attrs.get("class", "")
                    if lang.startswith("language-"):
                        stack[-1][2]["language"] = lang[len("language-") :]
                elif kind == "pre" and attrs.get("language"):
                    b.add(kind, start, language=attrs["language"])
                elif kind == "custom_emoji":
                    b.add(kind, start, custom_emoji_id=attrs.get("emoji-id", ""))
                else:
                    b.add(kind, start)
            else:
                m = re.match(r"([A-Za-z][A-Za-z0-9-]*)(.*)$", inner, re.S)
                name = m.group(1).lower() if m else ""
                if m is None or name not in _HTML_TAGS:
                    raise _ParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
                attrs = {
                    a.lower(): html.unescape(v1 or v2 or v3) for a, v1, v2, v3 in _HTML_ATTR_RE.findall(m.group(2))
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise _ParseError(f'Unsupported start tag "span" at byte offset {byte_offset}')
                stack.append((name, b.pos, attrs))
            i = end + 1
            continue
        if ch == "&":
            m = _HTML_ENTITY_RE.match(src, i)
            if m:
                b.emit(html.unescape(m.group()))
                i = m.end()
                continue
        b.emit(ch)  # a bare '>' is tolerated, a bare '<' is not
        i += 1
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return b.result()


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def _parse_markdown_v2(src: str) -> tuple[str, list[dict[str, Any]]]:  # noqa: PLR0912, PLR0915
    b = _EntityBuilder()
    stack: list[tuple[str, int, int, dict[str, str]]] = []  # kind, start, byte offset, extra
    i = 0
    n = len(src)

    def byte_offset(k: int) -> int:
        return len(src[:k].encode())

    def toggle(kind: str, k: int) -> None:
        for idx in range(len(stack) - 1, -1, -1):
            if stack[idx][0] == kind:
                _, start, _, extra = stack.pop(idx)
                b.add(kind, start, **extra)
                return
        stack.append((kind, b.pos, byte_offset(k), {}))

    while i < n:
        ch = src[i]
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if ch == "\\" and i + 1 < n and 0 < ord(src[i + 1]) < 127:
            b.emit(src[i + 1])
            i += 2
            continue
        if in_code:
            if stack[-1][0] == "pre" and src.startswith("```", i):
                toggle("pre", i)
                i += 3
            elif stack[-1][0] == "code" and ch == "`":
                toggle("code", i)
                i += 1
            else:
                b.emit(ch)
                i += 1
            continue
        if src.startswith("```", i):
            newline = src.find("\n", i + 3)
            language = src[i + 3 : newline] if newline != -1 else ""
            extra = {"language": language} if language and re.fullmatch(r"[\w+#.-]+", language) else {}
            stack.append(("pre", b.pos, byte_offset(i), extra))
            i = newline + 1 if extra else i + 3
            continue
        if ch == "`":
            toggle("code", i)
            i += 1
        elif src.startswith("__", i):
            toggle("underline", i)
            i += 2
        elif src.startswith("||", i):
            toggle("spoiler", i)
            i += 2
        elif ch in "*_~":
            toggle({"*": "bold", "_": "italic", "~": "strikethrough"}[ch], i)
            i += 1
        elif ch == "[":
            stack.append(("text_link", b.pos, byte_offset(i), {}))
            i += 1
        elif ch == "]" and stack and stack[-1][0] == "text_link":
            if not src.startswith("(", i + 1):
                raise _ParseError(f"Can't find end of a url at byte offset {byte_offset(i)}")
            j = i + 2
            url: list[str] = []
            while j < n and src[j] != ")":
                if src[j] == "\\" and j + 1 < n:
                    j += 1
                url.append(src[j])
                j += 1
            if j >= n:
                raise _ParseError(f"Can't find end of a url at byte offset {byte_offset(i)}")
            _, start, _, _ = stack.pop()
            b.add("text_link", start, url="".join(url))
            i = j + 1
        elif ch == ">" and (i == 0 or src[i - 1] == "\n"):
            i += 1  # blockquote marker: accepted, no entity emitted
        elif ch in _MDV2_RESERVED:
            raise _ParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        else:
            b.emit(ch)
            i += 1
    if stack:
        kind, _, offset, _ = stack[-1]
        raise _ParseError(f"Can't find end of {_MD_NAMES.get(kind, kind)} entity at byte offset {offset}")
    return b.result()


def _parse_markdown(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy ``Markdown``: *bold* _italic_ `code` ```pre``` [text](url); '\\' escapes _*`[."""
    b = _EntityBuilder()
    i = 0
    n = len(src)
    while i < n:
        ch = src[i]
        if ch == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            b.emit(src[i + 1])
            i += 2
            continue
        closer = {"*": "*", "_": "_", "`": "`", "[": "]"}.get(ch)
        if closer is None:
            b.emit(ch)
            i += 1
            continue
        start_byte = len(src[:i].encode())
        if src.startswith("```", i):
            end = src.find("```", i + 3)
            if end == -1:
                raise _ParseError(f"Can't find end of the entity starting at byte offset {start_byte}")
            body = src[i + 3 : end]
            start = b.pos
            b.emit(body)
            b.add("pre", start)
            i = end + 3
            continue
        end = src.find(closer, i + 1)
        if end == -1:
            raise _ParseError(f"Can't find end of the entity starting at byte offset {start_byte}")
        start = b.pos
        b.emit(src[i + 1 : end])
        if ch == "[":
            m = re.match(r"\(([^)]*)\)", src[end + 1 :])
            if not m:
                raise _ParseError(f"Can't find end of the entity starting at byte offset {start_byte}")
            b.add("text_link", start, url=m.group(1))
            i = end + 1 + m.end()
        else:
            b.add({"*": "bold", "_": "italic", "`": "code"}[ch], start)
            i = end + 1
    return b.result()


def _render(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[dict[str, Any]]]:
    """Apply a parse mode (or explicit entities) like Telegram does; ApiError on invalid markup."""
    if entities:
        return text, list(entities)
    mode = (parse_mode or "").lower()
    try:
        if mode == "html":
            return _parse_html(text)
        if mode == "markdownv2":
            return _parse_markdown_v2(text)
        if mode == "markdown":
            return _parse_markdown(text)
    except _ParseError as exc:
        raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    if mode:
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
    return text, []


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
            data = fake._download(token, file_path)
            if data is None:
                self._send(404, json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode())
            else:
                self._send(200, data, "application/octet-stream")
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
        self._callback_queries: dict[str, dict[str, Any]] = {}  # id -> {"answered": bool, ...}
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self._inline_messages: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, list[_ScheduledError]] = {}
        self._poll_generation = 0
        self.base_url = ""
        self.base_file_url = ""
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, _Upload]], Any]] = {
            name[len("_m_") :].replace("_", ""): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegram:
        """Start serving on 127.0.0.1 with an ephemeral port; returns self."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
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
        )
        self._files[file_id] = entry
        return entry

    def _store_photo(self, data: bytes) -> list[dict[str, Any]]:
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
                entries.append(self._store_file(small, "photo", width=w, height=h, mime_type="image/jpeg"))
        entries.append(self._store_file(data, "photo", width=info.width, height=info.height))
        sizes = [e.photo_size() for e in entries]
        for e in entries:
            e.photo_sizes = sizes
        return copy.deepcopy(sizes)

    def _download(self, token: str, file_path: str) -> bytes | None:
        if token != self.token:
            return None
        with self._lock:
            for entry in self._files.values():
                if entry.file_path == file_path:
                    return entry.data
        return None

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

    def group_chat(self, chat_id: int, title: str = "Group") -> Chat:
        """A supergroup; a positive id is turned into Telegram's -100<id> form."""
        if chat_id > 0:
            chat_id = -int(f"100{chat_id}")
        chat = Chat(chat_id, "supergroup", title=title)
        with self._lock:
            self._chats[chat.id] = chat
        return chat

    def set_admin(self, chat_id: int, user_id: int) -> None:
        """Make a user (or the bot itself, which disables privacy mode there) an admin of a chat."""
        with self._lock:
            self._admins.add((chat_id, user_id))

    def set_blocked(self, user_id: int, blocked: bool = True) -> None:
        """Simulate the user blocking the bot: sends to that chat fail with 403."""
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(user_id)

    # ------------------------------------------------------------------ user actions
    # In the methods below, ``user=None`` means the other side of a private chat.

    @staticmethod
    def _who(chat: Chat, user: User | None) -> User:
        if user is not None:
            return user
        if chat.user is None:
            raise ValueError(f"chat {chat.id} is not a private chat: pass the user explicitly")
        return chat.user

    def send_text(self, chat: Chat, user: User | None, text: str, *, reply_to: int | None = None) -> dict[str, Any]:
        """The user sends a text message; commands and mentions get entities as in Telegram."""
        content: dict[str, Any] = {"text": text}
        entities = _auto_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(chat, user, content, reply_to=reply_to)

    def send_photo(
        self,
        chat: Chat,
        user: User | None,
        image: bytes,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (sizes: thumbnails plus the full image, whose bytes are ``image``)."""
        with self._lock:
            content: dict[str, Any] = {"photo": self._store_photo(image)}
        self._add_caption(content, caption)
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self._user_message(chat, user, content, reply_to=reply_to)

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
    ) -> dict[str, Any]:
        """The user sends a file as a document."""
        with self._lock:
            entry = self._store_file(data, "document", file_name=file_name, mime_type=mime_type)
        content: dict[str, Any] = {"document": self._media_json(entry)}
        self._add_caption(content, caption)
        return self._user_message(chat, user, content, reply_to=reply_to)

    def send_album(
        self, chat: Chat, user: User | None, images: list[bytes], *, caption: str | None = None
    ) -> list[dict[str, Any]]:
        """The user sends photos as one album (shared media_group_id, caption on the first)."""
        group_id = str(13_000_000_000_000_000 + next(self._counter))
        return [
            self.send_photo(chat, user, img, caption=caption if k == 0 else None, media_group_id=group_id)
            for k, img in enumerate(images)
        ]

    def press_button(
        self,
        chat: Chat,
        user: User | None,
        message: dict[str, Any],
        callback_data: str,
        *,
        check: bool = True,
    ) -> str:
        """The user presses an inline button of a bot message; returns the callback query id."""
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
            self._callback_queries[query_id] = {"answered": False}
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
            self._inline_queries[query_id] = {"answered": False, "query": query}
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
        self, chat: Chat, user: User | None, content: dict[str, Any], *, reply_to: int | None
    ) -> dict[str, Any]:
        user = self._who(chat, user)
        with self._cond:
            self._chats.setdefault(chat.id, chat)
            self._users.setdefault(user.id, user)
            msg = self._new_message(chat, user.to_dict(), content)
            if reply_to is not None:
                target = self._messages.get(chat.id, {}).get(reply_to)
                if target is None:
                    raise ValueError(f"cannot reply to unknown message {reply_to} in chat {chat.id}")
                msg["reply_to_message"] = self._nested(target)
            if self._delivered_to_bot(chat, msg):
                self._queue({"message": copy.deepcopy(msg)})
            else:
                self.undelivered.append(copy.deepcopy(msg))
            return copy.deepcopy(msg)

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

    # ------------------------------------------------------------------ what the bot did

    def calls_of(self, method: str) -> list[Call]:
        """Calls of one Bot API method (case-insensitive), in order."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

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
                if m["from"]["id"] == BOT_ID and (chat_id, m["message_id"]) not in self._deleted
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
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after or 1}",
                400: "Bad Request",
                403: "Forbidden: bot was blocked by the user",
                502: "Bad Gateway",
            }.get(error_code, "Internal Server Error")
        parameters = {"retry_after": retry_after or 1} if error_code == 429 or retry_after else None
        with self._lock:
            self._errors.setdefault(method.lower(), []).append(
                _ScheduledError(times, ApiError(error_code, description, parameters), raw_body)
            )

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self.calls.clear()

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
        key = method.lower()
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
                self._cond.notify_all()
                if err.raw_body is not None:
                    return err.error.code, err.raw_body
                return err.error.code, json.dumps(call.error).encode()
        handler = self._methods.get(key)
        try:
            if handler is None:
                raise ApiError(400, f"Bad Request: method {method} is not implemented by FakeTelegram")
            if key == "getupdates":
                result = handler(params, uploads)  # waits on the condition itself
                with self._cond:
                    call.result = result
                    self._cond.notify_all()
            else:
                with self._cond:
                    result = handler(params, uploads)
                    call.result = copy.deepcopy(result)
                    self._cond.notify_all()
        except ApiError as exc:
            with self._cond:
                call.error = exc.to_dict()
                self._cond.notify_all()
            return exc.code, json.dumps(call.error).encode()
        except Exception as exc:  # a bug in the fake or a malformed request: report it as a 400
            traceback.print_exc()
            with self._cond:
                call.error = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc!r}"}
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
        if chat.type == "private" and chat.id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _new_message(self, chat: Chat, sender: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        msg: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
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
                    raise ApiError(400, "Bad Request: message to be replied not found")
            else:
                reply_msg = found
        markup = self._check_markup(params.get("reply_markup"))
        msg = self._new_message(chat, self.bot_user, content)
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
            "file_size": len(entry.data),
        }
        if entry.kind in ("animation", "video"):
            data.update({"width": entry.width, "height": entry.height, "duration": entry.duration})
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
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_get_webhook_info(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

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
        if len(entry.data) > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": len(entry.data),
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

    def _m_send_animation(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        return self._send_media("animation", p, up)

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

    def _m_send_chat_action(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        self._sendable_chat(p.get("chat_id"))
        return True

    def _edit_target(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """The stored message to edit, or None for an inline message."""
        if p.get("inline_message_id"):
            if str(p["inline_message_id"]) not in self._inline_messages:
                raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
            return None
        msg = self._stored_message(p.get("chat_id"), p.get("message_id"), "message to edit not found")
        if msg["from"]["id"] != BOT_ID:
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
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
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
        msg = self._stored_message(p.get("chat_id"), p.get("message_id"), "message to delete not found")
        self._deleted.add((msg["chat"]["id"], msg["message_id"]))
        return True

    def _m_answer_callback_query(self, p: dict[str, Any], up: dict[str, _Upload]) -> Any:
        query = self._callback_queries.get(str(p.get("callback_query_id", "")))
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
