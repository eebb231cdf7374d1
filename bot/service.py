"""What the bot does for a user, independent of how Telegram delivers the request."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import Settings
from bot.core.errors import (
    ClipRefusedError,
    DownloadUnavailableError,
    FileTooLargeError,
    Role,
    UnusableInputError,
    UserFacingError,
    problem_of,
)
from bot.core.messages import Msg
from bot.core.models import (
    QUALITIES,
    STRENGTHS,
    Job,
    JobParams,
    MediaKind,
    QueueFullError,
    Session,
    StyleRef,
    UserSettings,
    parse_quality,
)
from bot.core.sliding_window import SlidingWindow
from bot.jobs.clips import clip_limits, instant_model_missing, painted_frames
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.layout import JobFiles
from bot.jobs.stickers import StickerFile, clip_sticker, photo_sticker
from bot.presets.library import Preset, PresetError, PresetLibrary, UnknownPresetError
from bot.presets.names import normalize
from bot.store.files import FileStore
from bot.store.storage import Storage
from engine.errors import ClipError, InvalidImageError

log = logging.getLogger(__name__)
INLINE_RESULTS = 20
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


ALBUM_MEMORY = 512  # albums remembered, so the photos after the first two are answered once
__all__ = ["UserFacingError"]


@dataclass(frozen=True)
class Who:
    """The person behind a request, and where it came from."""

    chat_id: int
    user_id: int
    name: str | None = None
    is_group: bool = False
    language: str | None = None  # the language tag the sender's app reports ('pt-br'), if any
    thread_id: int | None = None  # the forum topic the request came from (None: not a forum, or General)


@dataclass(frozen=True)
class IncomingImage:
    """A photo or image document a user sent."""

    file_id: str
    message_id: int
    file_size: int | None = None
    media_group_id: str | None = None
    mime_type: str | None = None  # documents only
    file_name: str | None = None  # documents only
    media: MediaKind = "photo"  # a clip: the kind it is painted and sent back as


@dataclass(frozen=True)
class GalleryItem:
    """A preset as /styles shows it."""

    name: str
    caption: str
    thumbnail: bytes


@dataclass(frozen=True)
class Outcome:
    """What happened, and what to say about it (`key` names a sentence of the Telegram layer)."""

    kind: Literal["started", "ask_style", "default_set", "ignored", "said"]
    job: Job | None = None
    key: Msg | None = None
    values: dict[str, object] = dataclasses.field(default_factory=dict)
    misspelt: UnknownPresetError | None = None  # ask_style: the caption named no painting, but nearly these


class StyleService:
    """Sessions, style choices, settings and job requests for one user at a time."""

    def __init__(
        self,
        storage: Storage,
        runner: Dispatcher,
        files: FileStore,
        presets: PresetLibrary,
        settings: Settings,
    ) -> None:
        self.storage, self.runner, self.files, self.presets, self.settings = (
            storage, runner, files, presets, settings,
        )  # fmt: skip
        self.uploads = SlidingWindow(settings.images_per_minute, 60.0)
        self._albums: dict[str, int] = {}  # media_group_id -> photos seen
        self._told_instant_only: set[int] = set()  # users told that only instant pictures can be made now
        self._no_clips: str | None = None  # why clips cannot be painted here (no instant network), once looked up
        self._clips_checked = False
        self._told_no_clips: set[int] = set()

    def unavailable(self) -> Msg | None:
        """The sentence key saying painting cannot run, or runs instant pictures only (no model weights), or None."""
        if self.runner.degraded:
            return Msg.INSTANT_ONLY
        if not self.runner.unavailable:
            return None
        return Msg.UNAVAILABLE_TOLD if self.runner.admins_told else Msg.UNAVAILABLE

    async def seen(self, who: Who) -> None:
        """Someone wrote: a chat that had blocked the bot can be answered again."""
        await self.runner.chat_reachable(who.chat_id)

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its jobs, waiting photos and settings move to the new chat id."""
        await self.runner.chat_migrated(old_chat_id, new_chat_id)

    async def receive_image(
        self, who: Who, image: IncomingImage, caption: str | None = None, reply_to: int | None = None
    ) -> Outcome:
        """A photo arrived: the style of a pending photo, a photo with a preset caption, or new content."""
        if image.media != "photo":
            return await self.receive_clip(who, image, caption)
        source = await self.storage.job_by_result_message(who.chat_id, reply_to) if reply_to else None
        if source is None and who.is_group:
            return Outcome("ignored")  # in groups only commands and replies to results are for us
        album_index = self._album_index(image)
        if album_index > 2:  # an album's first two photos are content and style; the rest is answered once
            return Outcome("said", key=Msg.ALBUM_EXTRA) if album_index == 3 else Outcome("ignored")
        self._check_upload(who, image)
        await self.storage.remember_user(who.user_id, who.language)
        if source is not None:  # a style photo in reply to a result: restyle that result's original
            refs = [StyleRef("file", file_id=image.file_id)]
            media, frames = source.params.media, source.params.frames
            return await self._start(who, source.content_file_id, refs, image.message_id, media=media, frames=frames)
        session = await self.storage.get_session(who.chat_id, who.user_id)
        caption_styles, misspelt = self._caption_styles(caption)
        if caption_styles:
            return await self._start(who, image.file_id, caption_styles, image.message_id)
        if session is not None and album_index != 1:
            return await self._start_session(who, session, [StyleRef("file", file_id=image.file_id)])
        default = await self._default_style(who.user_id)
        if default and album_index == 0:
            outcome = await self._start(who, image.file_id, default, image.message_id)
            await self.storage.update_settings(who.user_id, default_style=None)  # a one-shot choice
            return outcome
        await self._check(image.file_id, "photo", image.file_size)  # a photo that cannot be painted is not kept
        await self.storage.save_session(
            who.chat_id,
            who.user_id,
            image.file_id,
            content_message_id=image.message_id,
            media_group_id=image.media_group_id,
            ttl_s=self.settings.session_ttl_s,
        )
        if album_index == 1:
            return Outcome("ignored")  # the album's second photo, the style, follows at once
        if misspelt is not None:
            return Outcome("ask_style", key=Msg.GOT_CONTENT_DID_YOU_MEAN, misspelt=misspelt)
        return Outcome("ask_style", key=Msg.GOT_CONTENT if self.presets.names() else Msg.NO_PRESETS)

    async def receive_clip(self, who: Who, clip: IncomingImage, caption: str | None = None) -> Outcome:
        """A GIF, video, video note or sticker arrived in a private chat: content, painted as the same kind."""
        if who.is_group:
            return Outcome("ignored")  # in groups: /stylize in reply to it
        refused = await self._clips_refused(who)
        if refused is not None:
            return refused
        self._check_upload(who, clip)
        await self.storage.remember_user(who.user_id, who.language)
        frames = await self._probe_clip(clip)
        caption_styles, misspelt = self._caption_styles(caption)
        if caption_styles:
            return await self._start(
                who, clip.file_id, caption_styles, clip.message_id, media=clip.media, frames=frames
            )
        default = await self._default_style(who.user_id)
        if default:
            outcome = await self._start(who, clip.file_id, default, clip.message_id, media=clip.media, frames=frames)
            await self.storage.update_settings(who.user_id, default_style=None)
            return outcome
        await self.storage.save_session(
            who.chat_id, who.user_id, clip.file_id, content_message_id=clip.message_id,
            ttl_s=self.settings.session_ttl_s, media=clip.media, frames=frames,
        )  # fmt: skip
        if misspelt is not None:
            return Outcome("ask_style", key=Msg.GOT_CLIP_DID_YOU_MEAN, misspelt=misspelt)
        return Outcome("ask_style", key=Msg.GOT_CLIP if self.presets.names() else Msg.NO_PRESETS)

    async def _clips_refused(self, who: Who) -> Outcome | None:
        """Without the instant network no clip can be painted: say so once to each user, then stay quiet."""
        if not self._clips_checked:
            self._no_clips = await asyncio.to_thread(instant_model_missing, self.settings.fast_model)
            self._clips_checked = True
            if self._no_clips:
                log.warning("clips are refused: %s", self._no_clips)
        if self._no_clips is None:
            return None
        if who.user_id in self._told_no_clips:
            return Outcome("ignored")
        self._told_no_clips.add(who.user_id)
        return Outcome("said", key=Msg.CLIPS_NEED_INSTANT)

    async def _probe_clip(self, clip: IncomingImage) -> int:
        """Download the clip and read its header now, so a bad one is refused while its sender is here; its frames."""
        try:
            _, info = await self.files.fetch_clip(clip.file_id, clip.file_size, clip_limits(self.settings, clip.media))
        except ClipError as exc:
            raise ClipRefusedError(exc.kind, **exc.details) from exc
        except DownloadUnavailableError as exc:  # Telegram's side: the worker's download checks it later
            log.warning("could not download clip %s to check it (%s)", clip.file_id, exc)
            return 0
        if clip.media in ("sticker", "video_sticker") and not info.has_alpha and not info.is_tgs:
            raise ClipRefusedError("no_alpha", codec=info.codec)
        return painted_frames(info, self.settings, clip.media)

    def _album_index(self, image: IncomingImage) -> int:
        """1, 2, 3... for the photos of an album in the order they arrive; 0 outside albums."""
        if image.media_group_id is None:
            return 0
        index = self._albums.get(image.media_group_id, 0) + 1
        self._albums[image.media_group_id] = index
        if len(self._albums) > ALBUM_MEMORY:  # dicts keep insertion order: drop the oldest album
            del self._albums[next(iter(self._albums))]
        return index

    def _check_upload(self, who: Who, image: IncomingImage) -> None:
        """Refuse what is plainly not an image, and senders who flood the bot, before anything is downloaded."""
        if image.media != "photo":
            clip_limit = self.settings.max_clip_mb * 1e6
            if image.file_size is not None and image.file_size > clip_limit:
                size = f"{image.file_size / 1e6:.1f}"
                raise ClipRefusedError("file_too_large", size=size, limit=f"{clip_limit / 1e6:.0f}")
        elif image.mime_type is not None or image.file_name is not None:
            mime_ok = (image.mime_type or "").startswith("image/")
            name_ok = (image.file_name or "").lower().endswith(IMAGE_SUFFIXES)
            if not (mime_ok or name_ok):
                raise UserFacingError(Msg.NOT_AN_IMAGE)
        limit = self.settings.max_upload_mb * 1e6
        if image.media == "photo" and image.file_size is not None and image.file_size > limit:
            raise FileTooLargeError(image.file_size / 1e6, limit / 1e6)
        if not self.uploads.allow(who.user_id):
            raise UserFacingError(Msg.TOO_MANY_IMAGES, per_minute=self.settings.images_per_minute)

    async def stylize_reply(
        self, who: Who, target: IncomingImage, spec: str = "", style: IncomingImage | None = None
    ) -> Outcome:
        """/stylize in reply to a photo or clip: with presets, with a style photo, or ask which (for this user only)."""
        if target.media != "photo":
            refused = await self._clips_refused(who)
            if refused is not None:
                return refused
        self._check_upload(who, target)
        await self.storage.remember_user(who.user_id, who.language)
        if style is not None and style.media != "photo":
            raise UserFacingError(Msg.CLIP_AS_STYLE)
        frames = await self._probe_clip(target) if target.media != "photo" else 0
        media = target.media
        if style is not None:
            self._check_upload(who, style)
            refs = [StyleRef("file", file_id=style.file_id)]
            return await self._start(who, target.file_id, refs, target.message_id, media=media, frames=frames)
        if spec.strip():
            refs = self._preset_refs(spec)
            return await self._start(who, target.file_id, refs, target.message_id, media=media, frames=frames)
        if media == "photo":
            await self._check(target.file_id, "photo", target.file_size)
        await self.storage.save_session(
            who.chat_id, who.user_id, target.file_id, content_message_id=target.message_id,
            ttl_s=self.settings.session_ttl_s, media=media, frames=frames,
        )  # fmt: skip
        return Outcome("ask_style", key=Msg.PICK_FOR, values={"name": who.name or ""})

    async def restyle_result(self, who: Who, reply_to: int, spec: str) -> Outcome:
        """A preset name in reply to a result: the same original content, a new style."""
        source = await self.storage.job_by_result_message(who.chat_id, reply_to)
        if source is None:
            return Outcome("ignored")
        try:
            refs = self._preset_refs(spec)
        except PresetError:
            if who.is_group:  # people answer results with "wow!" in groups; only style names are for us
                return Outcome("ignored")
            raise
        media, frames = source.params.media, source.params.frames
        return await self._start(who, source.content_file_id, refs, reply_to, media=media, frames=frames)

    async def again(self, who: Who) -> Outcome:
        """/again: the user's last job once more, with a new seed."""
        last = await self.storage.last_job(who.user_id, who.chat_id)
        if last is None:
            raise UserFacingError(Msg.NOTHING_TO_REPEAT)
        return await self.remix(who, last.id, "again")

    async def remix(self, who: Who, job_id: int, action: str) -> Outcome:
        """A button under a result: the same job with one setting changed and a new seed."""
        source = await self.storage.get_job(job_id)
        if source is None or source.chat_id != who.chat_id:
            raise UserFacingError(Msg.REMIX_GONE)
        params = remixed(source.params, action, seed=secrets.randbelow(2**31 - 1) + 1)
        return await self._start(
            who, source.content_file_id, list(source.styles), source.reply_to_message_id, params=params
        )

    async def making_of(self, who: Who, job_id: int) -> bytes:
        """The making-of animation of a result, while the job's files are kept."""
        job = await self.storage.get_job(job_id)
        # The worker writes it into the job's folder; a tap can come before the bot has recorded the path.
        path = Path(job.making_of_path or self.settings.jobs_dir / str(job_id) / "making_of.gif") if job else None
        if job is None or job.chat_id != who.chat_id or path is None or not path.is_file():
            raise UserFacingError(Msg.MAKING_OF_GONE)
        return await asyncio.to_thread(path.read_bytes)

    async def sticker_file(self, who: Who, job_id: int) -> StickerFile:
        """A result made into a sticker for its owner's pack (converted in a thread; stickers go as they are)."""
        job = await self.storage.get_job(job_id)
        if job is None or job.chat_id != who.chat_id or job.result_file_id is None:
            raise UserFacingError(Msg.STICKER_PACK_GONE)
        if job.params.media in ("sticker", "video_sticker"):  # already a sticker Telegram has
            return StickerFile(job.result_file_id, video=job.params.media == "video_sticker")
        try:
            data = await self.files.download(job.result_file_id)
        except DownloadUnavailableError as exc:
            raise UserFacingError(Msg.STICKER_PACK_GONE) from exc
        convert = clip_sticker if job.params.is_clip else photo_sticker
        return await asyncio.to_thread(convert, data)

    async def group_quality(self, chat_id: int) -> str:
        """The highest quality a group allows."""
        return await self.storage.get_group_max_quality(chat_id)

    async def set_group_quality(self, who: Who, quality: str, is_admin: bool) -> str:
        """/groupsettings: admins cap the quality tier of the group."""
        if not is_admin:
            raise UserFacingError(Msg.GROUP_ADMINS_ONLY)
        await self.storage.set_group_max_quality(who.chat_id, parse_quality(quality))
        return quality

    async def inline_results(self, user_id: int, query: str) -> tuple[list[Job], list[tuple[Preset, str | None]]]:
        """The user's results and the presets that match the query's words (a '#id' query: that result first)."""
        # Inline mode shares results as cached photos: a clip's file id is no photo.
        jobs = [j for j in await self.storage.recent_results(user_id, limit=INLINE_RESULTS) if not j.params.is_clip]
        files = await self.storage.preset_files()
        if query.strip().startswith("#"):
            wanted = query.strip().lstrip("#")
            jobs.sort(key=lambda j: str(j.id) != wanted)  # stable: the rest stay newest first
            return jobs, [(p, files.get(p.name)) for p in self.presets.all()]
        words = normalize(query).split()
        presets = [p for p in self.presets.all() if all(w in _searchable(p) for w in words)]
        matching = {p.name for p in presets}
        # A result matches through its paintings' names, titles and artists, like the presets themselves.
        jobs = [j for j in jobs if not words or any(r.name in matching for r in j.styles if r.name)]
        return jobs, [(p, files.get(p.name)) for p in presets]

    def preset_names(self) -> list[str]:
        """Names of the installed presets (a listing of a small folder)."""
        return self.presets.names()

    async def gallery(self) -> list[GalleryItem]:
        """Every preset with a thumbnail and a caption, for /styles."""
        return await asyncio.to_thread(self._gallery)

    def _gallery(self) -> list[GalleryItem]:
        """Thumbnails are made (and cached) on disk: a thread's job, not the event loop's."""
        return [
            GalleryItem(p.name, f"{p.name} – {p.label}", self.presets.thumbnail(p.name)) for p in self.presets.all()
        ]

    async def plain_text(self, who: Who, text: str) -> Outcome:
        """A private message that is not a command: a painting's name picks it, anything else gets a hint."""
        try:
            self._preset_refs(text)
        except PresetError as exc:
            if isinstance(exc, UnknownPresetError) and exc.suggestions:
                raise  # "Did you mean Starry Night?" with buttons
            pending = await self.storage.get_session(who.chat_id, who.user_id)
            return Outcome("ignored", key=Msg.PICK_HINT if pending else Msg.NEED_CONTENT)
        return await self.pick_style(who, text)

    async def remember_gallery(self, sent: list[tuple[str, str]]) -> None:
        """Keep the file ids of preset thumbnails Telegram now has, for inline mode."""
        for name, file_id in sent:
            await self.storage.remember_preset_file(name, file_id)

    async def pick_style(self, who: Who, spec: str) -> Outcome:
        """A preset (or blend) chosen: start with the pending photo, or remember it for the next one."""
        refs = self._preset_refs(spec)  # validates before anything changes
        session = await self.storage.get_session(who.chat_id, who.user_id)
        if session is None:
            await self.storage.update_settings(who.user_id, default_style=spec.strip())
            label = ", ".join(self.presets.get(r.name).title for r in refs if r.name)  # as people call them
            return Outcome("default_set", key=Msg.STYLE_SET_DEFAULT, values={"style": label})
        return await self._start_session(who, session, refs)

    async def _start_session(self, who: Who, session: Session, styles: list[StyleRef]) -> Outcome:
        """Start the pending photo with these styles; an unreadable pending photo ends the session, a bad style not."""
        try:
            outcome = await self._start(
                who, session.content_file_id, styles, session.content_message_id,
                media=session.media, frames=session.frames,
            )  # fmt: skip
        except UnusableInputError as exc:
            if exc.problem.role == "photo":  # else it would be taken as the photo of every style that follows
                await self.storage.delete_session(who.chat_id, who.user_id)
            raise
        await self.storage.delete_session(who.chat_id, who.user_id)  # only once the job is safely queued
        return outcome

    async def _fetch_inputs(self, content_file_id: str | None, styles: list[StyleRef]) -> None:
        """Download and check a job's photos before it is queued: a bad one is refused while the user is here."""
        if content_file_id is not None:  # None: a clip, probed when it arrived
            await self._check(content_file_id, "photo")
        for ref in styles:
            if ref.file_id:
                await self._check(ref.file_id, "style")

    async def _check(self, file_id: str, role: Role, size: int | None = None) -> None:
        """Download a photo into the cache and decode it (in a thread); UnusableInputError names `role` if bad."""
        try:
            await self.files.fetch_image(file_id, size)
        except InvalidImageError as exc:  # too large files keep their own message (FileTooLargeError)
            raise UnusableInputError(problem_of(exc, role)) from exc
        except DownloadUnavailableError as exc:  # Telegram's side: keep the photo, check it at job time
            log.warning("could not download %s to check it (%s); it is checked when the job starts", file_id, exc)

    async def _check_room(self, who: Who) -> None:
        """Refuse what the queue's caps would refuse anyway before its photos are downloaded: a flood costs nothing.

        The queue checks again when the job is added, in one transaction (this early look can race another).
        """
        limit = self.settings.jobs_per_user
        if len(await self.storage.active_jobs(who.user_id)) >= limit:
            raise QueueFullError(is_global=False, limit=limit)
        if (await self.storage.active_counts())["queued"] >= self.settings.queue_length:
            raise QueueFullError(is_global=True, limit=self.settings.queue_length)

    async def get_settings(self, user_id: int) -> UserSettings:
        """A user's settings."""
        return await self.storage.get_settings(user_id)

    async def language(self, who: Who) -> str | None:
        """The language to answer in: the one the user chose, else the one their app reports now."""
        return (await self.storage.get_settings(who.user_id)).language or who.language

    async def set_language(self, user_id: int, language: str | None) -> UserSettings:
        """/language: the language to speak to the user in (None: follow their Telegram app)."""
        return await self.storage.update_settings(user_id, language=language)

    async def change_setting(self, user_id: int, key: str, value: str) -> UserSettings:
        """Apply one settings button."""
        if key == "colors":
            return await self.storage.update_settings(user_id, keep_colors=value == "on")
        if key in ("quality", "strength"):
            return await self.storage.update_settings(user_id, **{key: value})
        raise UserFacingError(Msg.SETTING_GONE)

    async def cancel(self, who: Who) -> Outcome:
        """Cancel the pending photo and every active job of this user in this chat."""
        pending = await self.storage.get_session(who.chat_id, who.user_id)
        if pending is not None:
            await self.storage.delete_session(who.chat_id, who.user_id)
        jobs = await self.runner.cancel(who.chat_id, who.user_id)
        if not jobs and pending is None:
            return Outcome("said", key=Msg.NOTHING_TO_CANCEL)
        return Outcome("said", key=Msg.CANCELLED, values={"jobs": jobs, "pending": pending is not None})

    async def status(self, who: Who) -> list[tuple[Job, int | None, float | None]]:
        """The user's active jobs with queue position and ETA."""
        return await self.runner.describe(who.chat_id, who.user_id)

    async def forget(self, who: Who) -> Outcome:
        """/forget: cancel the user's jobs and delete their photos, results, settings and job history."""
        await self.runner.cancel(who.chat_id, who.user_id)
        jobs = await self.storage.jobs_of_user(who.user_id)
        file_ids = [job.content_file_id for job in jobs] + [r.file_id for job in jobs for r in job.styles if r.file_id]
        session = await self.storage.get_session(who.chat_id, who.user_id)
        if session is not None:
            file_ids.append(session.content_file_id)
        photos = await self.files.remove(file_ids)
        for job in jobs:
            await asyncio.to_thread(JobFiles.of(self.settings.jobs_dir, job.id).remove)
        counts = await self.storage.forget_user(who.user_id)
        return Outcome("said", key=Msg.FORGOTTEN, values={"photos": photos, **counts})

    async def add_preset(self, user_id: int, name: str, image: IncomingImage) -> Outcome:
        """Admins: make a photo a preset."""
        self._require_admin(user_id)
        path = await self.files.fetch_image(image.file_id, image.file_size)
        preset = await asyncio.to_thread(lambda: self.presets.add(name, path.read_bytes()))
        return Outcome("said", key=Msg.STYLE_ADDED, values={"name": preset.name})

    async def remove_preset(self, user_id: int, name: str) -> Outcome:
        """Admins: delete a preset."""
        self._require_admin(user_id)
        await asyncio.to_thread(self.presets.remove, name)
        return Outcome("said", key=Msg.STYLE_REMOVED, values={"name": name.lower()})

    def _require_admin(self, user_id: int) -> None:
        """Only STYLEBOT_ADMIN_IDS may change presets."""
        if user_id not in self.settings.admin_ids:
            raise UserFacingError(Msg.ADMIN_ONLY)

    async def _default_style(self, user_id: int) -> list[StyleRef]:
        """The style chosen with /style for the next photo; forgotten if its preset was removed since."""
        spec = (await self.storage.get_settings(user_id)).default_style
        if not spec:
            return []
        try:
            return self._preset_refs(spec)
        except PresetError:
            await self.storage.update_settings(user_id, default_style=None)
            return []

    def _caption_styles(self, caption: str | None) -> tuple[list[StyleRef], UnknownPresetError | None]:
        """Presets named by a caption (none if it is not a style spec), and the error if it nearly named some."""
        if not caption or caption.startswith("/"):
            return [], None
        try:
            return self._preset_refs(caption), None
        except UnknownPresetError as exc:
            return [], exc if exc.suggestions else None  # "stary night": ask; "my cat": just a caption
        except PresetError:
            return [], None

    def _preset_refs(self, spec: str) -> list[StyleRef]:
        """Parse `starry_night:0.7 the_scream:0.3` into style refs (PresetError if wrong)."""
        return [StyleRef("preset", name=p.name, weight=w) for p, w in self.presets.parse_spec(spec)]

    async def _start(
        self,
        who: Who,
        content_file_id: str,
        styles: list[StyleRef],
        reply_to: int | None,
        *,
        params: JobParams | None = None,
        media: MediaKind = "photo",
        frames: int = 0,
    ) -> Outcome:
        """Queue a job with the user's settings (or given ones), capped by the group's quality limit."""
        self.runner.check_accepting()  # refuse before downloading photos that could not become a job now
        await self._check_room(who)
        clip = (params.media if params is not None else media) != "photo"
        await self._fetch_inputs(None if clip else content_file_id, styles)
        # The job's messages are sent later, in its owner's language: keep it current (remixes, restyles too).
        await self.storage.remember_user(who.user_id, who.language)
        if params is None:
            user = await self.storage.get_settings(who.user_id)
            params = JobParams(
                quality=user.quality,
                strength=user.strength,
                keep_colors=user.keep_colors,
                seed=0,
                media=media,
                frames=frames,
            )
        if who.is_group:
            cap = await self.storage.get_group_max_quality(who.chat_id)
            params = dataclasses.replace(params, quality=min(params.quality, cap, key=QUALITIES.index))
        job = await self.runner.submit(
            who.chat_id,
            who.user_id,
            who.name,
            content_file_id,
            styles,
            params,
            reply_to=reply_to,
            thread_id=who.thread_id,
        )
        if job.params.quality == "instant" and self.runner.degraded and who.user_id not in self._told_instant_only:
            self._told_instant_only.add(who.user_id)  # said once: every reply would be noise
            return Outcome("started", job=job, key=Msg.INSTANT_ONLY)
        return Outcome("started", job=job)


def _searchable(preset: Preset) -> str:
    """A preset's name, title and artist as one lower-case, accent-free string for word search."""
    return normalize(f"{preset.name} {preset.title} {preset.artist or ''}")


def remixed(params: JobParams, action: str, seed: int) -> JobParams:
    """Job parameters after a remix button: one setting moved, always a new seed."""
    if action == "stronger":
        strength = STRENGTHS[min(STRENGTHS.index(params.strength) + 1, len(STRENGTHS) - 1)]
        return dataclasses.replace(params, strength=strength, seed=seed)
    if action == "weaker":
        return dataclasses.replace(params, strength=STRENGTHS[max(STRENGTHS.index(params.strength) - 1, 0)], seed=seed)
    if action == "colors":
        return dataclasses.replace(params, keep_colors=not params.keep_colors, seed=seed)
    if action == "hd":
        return dataclasses.replace(params, quality="hd", seed=seed)
    if action == "again":
        return dataclasses.replace(params, seed=seed)
    raise UserFacingError(Msg.REMIX_GONE)
