"""Everything the bot says, in one place: the core names a sentence by its key, this module words it.

The constants are the English texts and the gettext msgids; every function takes the reader's language.
"""

from __future__ import annotations

import string

from bot.core.errors import ClipRefusedError, Problem, UnusableInputError, UserFacingError
from bot.core.messages import Msg
from bot.core.models import Job
from bot.jobs.notifier_port import Status
from bot.jobs.stickers import StickerNote
from bot.ops.chart import LAYS_OUT_RIGHT_TO_LEFT, ChartLabels
from bot.ops.report import UsageReport
from bot.presets.library import (
    AmbiguousPresetError,
    InvalidPresetNameError,
    PresetError,
    PresetLibrary,
    UnknownPresetError,
    default_title,
)
from bot.store.storage import quantile
from bot.telegram.i18n import LANGUAGES, N_, RIGHT_TO_LEFT, SOURCE, translator

START = N_(
    "Send me a photo, then a second photo or a painting from the list, and I'll repaint the first "
    "in the style of the second.\nTip: caption your photo with a style name (e.g. starry_night) to start at once."
)
HELP = N_(
    """Commands
/styles – the preset paintings
/style NAME – pick a painting (blend: /style starry_night:0.7 the_scream:0.3)
/settings – quality, strength, colours
/status – your jobs
/again – your last picture once more, with a new seed
/cancel – cancel what is pending or running
/forget – delete your photos, results, settings and history
/language – the language I speak (e.g. /language en)
/help – this list

How it works: send a photo (as a photo or as an image file), then send a style photo or tap a painting.
An album of two photos works too: the first is the content, the second the style.
Reply to a result with a painting's name or a style photo to restyle it.
In groups: reply to any photo with /stylize NAME (or /stylize to choose).
Share results anywhere by typing @{bot} in any chat."""
)
PICK_FOR = N_("{name}, pick a painting for this photo:")
NOT_YOUR_MENU = N_("This menu is for someone else. Reply to a photo with /stylize to get your own.")
STYLIZE_USAGE = N_("Reply to a photo with /stylize NAME, or with /stylize to choose a painting.")
NOTHING_TO_REPEAT = N_("There is nothing to repeat yet: send me a photo first.")
REMIX_GONE = N_("I can't find that picture any more; send the photo again.")
MAKING_OF_GONE = N_("The making-of of that picture is no longer kept.")
GROUP_ADMINS_ONLY = N_("Only the group's admins can change its settings.")
GROUP_SETTINGS = N_("Highest quality allowed in this group:")
GROUP_SETTINGS_PRIVATE = N_("/groupsettings works in groups; use /settings here.")
INLINE_PRESET = N_("🎨 {label}\nRepaint your photo like this: send it to @{bot}")
GOT_CONTENT = N_("Got your photo. Now send a style image, or pick a painting:")
GOT_CONTENT_DID_YOU_MEAN = N_("Got your photo. Did you mean {titles}? Tap it, or send a style image.")
NO_PRESETS = N_("Got your photo. Now send a style image (no preset paintings are installed yet).")
NEED_CONTENT = N_("Send me a photo to repaint (see /help).")
PICK_HINT = N_("Send a style photo, tap a painting above, or type a painting's name (see /styles).")
STYLE_SET_DEFAULT = N_("OK: {style} will be used for your next photo.")
SETTINGS = N_("Your settings (tap to change):")
SETTINGS_SAVED = N_("Saved.")
NOTHING_TO_CANCEL = N_("Nothing to cancel.")
CANCELLED = N_("Cancelled {jobs} job(s){pending}.")
NOT_AN_IMAGE_MESSAGE = N_("That message has no photo.")
PENDING_CLEARED = N_(" and forgot your pending photo")
NO_JOBS = N_("You have no jobs queued or running.")
NOT_AN_IMAGE = N_("That file isn't an image I can read. Send a JPEG, PNG or WebP photo.")
TOO_LARGE = N_("{reason} Please send a smaller image, or send it as a photo instead of a file.")
STYLES_HEADER = N_("Preset paintings – tap one to use it, or send /style NAME:")
ADMIN_ONLY = N_("Only the bot's admins can change the preset list.")
ADDSTYLE_USAGE = N_("Reply to a photo with /addstyle NAME (letters, digits and _).")
DELSTYLE_USAGE = N_("Usage: /delstyle NAME")
STYLE_ADDED = N_("Added preset {name}.")
STYLE_REMOVED = N_("Removed preset {name}.")
# No promise that the photo is kept: the error may be that nothing could be stored (a full disk).
ERROR = N_("Sorry, something went wrong on my side. Please send it again in a minute.")

QUEUED = N_("⏳ Queued – position {position}{eta}.")
STARTING = N_("🎨 Starting…")
PROGRESS = N_("🎨 Painting… {percent}%{eta}")
DONE = N_("✅ Done in {seconds}.")
FAILED_INTERNAL = N_("❌ Sorry, that failed twice on my side. Please try again later.")
CANCELLED_STATUS = N_("🚫 Cancelled.")
UNAVAILABLE = N_("❌ Painting is unavailable: the operator has to install the model weights. Please try again later.")
INSTANT_ONLY = N_(
    "⚡ Only instant pictures for now: the full painting needs model weights the operator has not installed yet."
)
UNAVAILABLE_TOLD = N_(
    "❌ Painting is unavailable: the operator has to install the model weights (the bot's admins have been told). "
    "Please try again later."
)
FILE_TOO_LARGE = N_("That file is {size} MB; the limit is {limit} MB. Send a smaller image, or send it as a photo.")
# The download ran past the limit though Telegram stated a smaller size: its real size is unknown.
FILE_OVER_LIMIT = N_("That file is larger than the limit of {limit} MB. Send a smaller image, or send it as a photo.")
TOO_MANY_IMAGES = N_(
    "You're sending images faster than I can look at them (at most {per_minute} a minute). Wait a minute."
)
ALBUM_EXTRA = N_("I used the first two photos of your album (photo and style); the others are not used.")
SETTING_GONE = N_("That setting no longer exists; send /settings again.")
BUTTON_GONE = N_("This button no longer works; send the command again.")
QUEUED_TAP = N_("Queued!")
CANNOT_POST_MEDIA = N_(
    "🚫 I painted your picture but may not post pictures in this chat. An admin can allow me to send media."
)
CANNOT_POST = N_("🚫 I painted your picture but Telegram would not take it ({reason}).")
FORGOTTEN = N_(
    "Deleted: {jobs} job(s) with their results, {photos} cached photo(s), your settings and pending photo. "
    "Nothing else about you is kept."
)
BUSY = N_("The bot is busy right now, please try again in a few minutes.")
# The Celery broker is unreachable.
CLUSTER_BUSY = N_("The painting service is busy right now, please try again shortly.")
USER_CAP = N_("You already have {limit} job(s) waiting; wait for them or /cancel.")
ADMIN_WORKERS_DOWN = N_("⚠️ stylebot cannot paint: its workers fail to start.\n{reason}")
RESTARTED = N_("⏳ I restarted; your job is queued again – position {position}.")
RETRYING = N_("⏳ A worker crashed; retrying your job.")
INSTANT_PREVIEW = N_("⚡ Instant preview – the full painting follows.")

# Clips: GIFs, videos, round videos and stickers.
GOT_CLIP = N_("Got your clip. Now send a style image, or pick a painting:")
GOT_CLIP_DID_YOU_MEAN = N_("Got your clip. Did you mean {titles}? Tap it, or send a style image.")
CLIPS_NEED_INSTANT = N_(
    "I can't paint GIFs, videos or stickers here: they need the instant style model, which the operator has not "
    "installed. Photos still work."
)
CLIP_AS_STYLE = N_("A style must be a picture, not a clip. Send a photo or pick a painting.")
CLIP_DAMAGED = N_("I couldn't read that clip: it seems damaged or cut short. Please send it again.")
CLIP_UNSUPPORTED = N_("I can't decode that clip's format ({codec}). Send it as an MP4 video or a GIF.")
CLIP_NO_VIDEO = N_("That file has no picture in it, only sound. Send a GIF or a video.")
CLIP_NO_FRAMES = N_("That clip has no frames I could read. Please send another one.")
CLIP_TOO_LONG = N_("That clip lasts {seconds} s; I paint clips of up to {limit_s} s. Send a shorter one.")
CLIP_TOO_MANY_FRAMES = N_("That clip has {frames} frames; I paint at most {limit}. Send a shorter one.")
CLIP_TOO_LARGE = N_("That clip's frames are {width}×{height} pixels, too large for me. Send a smaller one.")
CLIP_NO_ALPHA = N_("That sticker has no transparent background, so I can't paint it as a sticker.")
CLIP_STICKER_TOO_BIG = N_(
    "I couldn't make that clip into a sticker small enough for Telegram (256 KB). Try a shorter or calmer clip."
)
CLIP_FILE_TOO_LARGE = N_("That clip is {size} MB; the limit is {limit} MB. Send a shorter or smaller one.")
FIRST_FRAME = N_("⚡ The first painted frame – the whole clip follows.")
STICKER_ADDED = N_("Added to your sticker pack.")
STICKER_PACK_CREATED = N_("Added to your new sticker pack – open it here to add it to Telegram: {link}")
STICKER_PACK_TITLE = N_("{name}'s paintings")
STICKER_SHORTENED = N_("It lasted {seconds} s; stickers last at most {limit} s, so I kept the first {limit} s.")
STICKER_SPED_UP = N_("I played it {factor}× faster to fit a sticker's {limit} s.")
STICKER_PACK_FAILED = N_("Telegram would not add it to your sticker pack ({reason}).")
STICKER_PACK_GONE = N_("That result is no longer available for a sticker; paint it again.")

LANGUAGE_CHOOSE = N_("Which language should I speak to you in?")
LANGUAGE_SET = N_("From now on I'll answer in English.")
LANGUAGE_AUTO = N_("From now on I'll answer in the language your Telegram app is set to.")
LANGUAGE_AUTO_BUTTON = N_("🌐 My Telegram app's language")
LANGUAGE_UNKNOWN = N_("I don't speak '{code}' yet. Choose one of: {codes}.")
NO_PRESETS_INSTALLED = N_("No preset paintings are installed yet.")
MAKING_OF = N_("🎬 How this painting took shape")
SHARED = N_("🎨 {styles} · made with @{bot}")
A_STYLE_PHOTO = N_("a style photo")
YOUR_STYLE_PHOTO = N_("your style photo")
PHOTO = N_("photo")
YOU = N_("You")
SECONDS = N_("{seconds} s")
MINUTES = N_("{minutes} min")
MINUTES_SECONDS = N_("{minutes} min {seconds} s")
ETA_ALMOST_DONE = N_(" – almost done")
ETA_LEFT = N_(" – about {duration} left")
CAPTION = N_("🎨 {styles}\n{quality} {size} · {strength} strength{colours} · {duration}{credit}")
CAPTION_COLOURS = N_(" · photo colours")
CAPTION_CREDIT = N_("\nfor {name}")
JOB_PAINTING = N_("painting, {percent}%")
JOB_QUEUED = N_("queued, position {position}")
UNKNOWN_STYLE = N_("Unknown style '{name}'. See /styles for the paintings.")
UNKNOWN_STYLE_NONE = N_("Unknown style '{name}'. No preset styles are installed yet.")
UNKNOWN_STYLE_SUGGEST = N_("Unknown style '{name}'. Did you mean {titles}?")
AMBIGUOUS_STYLE = N_("'{name}' matches several paintings. Did you mean {titles}?")
ALTERNATIVES = N_("{first} or {last}")
BAD_STYLE_SPEC = N_("I can't read that list of styles. Write it like this: /style starry_night:0.7 the_scream:0.3")
# An input that cannot be used, said when it arrives (UNUSABLE_*) or when its job fails (FAILED_*): {reason} is
# one of PROBLEMS, so the user learns what is wrong and which picture to send again.
UNUSABLE_PHOTO = N_("I couldn't use your photo: {reason}. Please send it again.")
UNUSABLE_STYLE = N_("I couldn't use that style image: {reason}. Please send another style image, or pick a painting.")
UNUSABLE_IMAGE = N_("I couldn't use that image: {reason}. Please send another one.")
FAILED_PHOTO = N_("❌ I couldn't use your photo: {reason}. Please send it again.")
FAILED_STYLE = N_("❌ I couldn't use the style: {reason}. Please send your photo again, then another style.")
# Why (engine.errors.ImageProblem and bot.core.errors.ProblemKind codes; the numbers come with the error).
PROBLEMS = {
    "damaged": N_("it is damaged or incomplete"),
    "unsupported": N_("it is not a JPEG, PNG, WebP, BMP, GIF or TIFF picture"),
    "empty": N_("the file is empty"),
    "missing": N_("it is no longer available"),
    "no_pixels": N_("it has no pixels"),
    "too_long": N_("it is {width}×{height} px, and its longest side may be at most {limit_px} px"),
    "too_big": N_("it has {megapixels} megapixels, and at most {limit_mp} are allowed"),
    "too_big_limit": N_("it has more than the {limit_mp} megapixels allowed"),
    "bad_aspect": N_("it is too narrow (aspect ratio {aspect}:1, at most {limit}:1)"),
    "bad_colours": N_("it uses a colour format I can't convert"),
    "download_failed": N_("Telegram would not let me download it"),
    "file_too_large": N_("the file is {size} MB, and the limit is {limit} MB"),
    "style_gone": N_("the painting '{name}' has been removed"),
    "unknown": N_("I can't read it"),
}
# /addstyle with a name the preset library refuses (bot.presets.library.NAME_RULE).
BAD_PRESET_NAME = N_(
    "'{name}' cannot be a style name: use 1-32 lowercase letters, digits or underscores, like starry_night."
)
# Quality tiers and strengths as captions and buttons name them (core/recipes.py TIERS has the English).
TIER_LABELS = {"instant": N_("⚡ Instant"), "preview": N_("preview"), "standard": N_("standard"), "hd": N_("HD")}
STRENGTH_LABELS = {"low": N_("low"), "medium": N_("medium"), "high": N_("high")}


def text(message: str, lang: str = SOURCE) -> str:
    """One of this module's texts (or another N_-marked one) in the reader's language, not filled in."""
    return translator(lang).gettext(message)


def duration(seconds: float, lang: str = SOURCE) -> str:
    """'42 s' or '3 min 5 s'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return say(Msg.SECONDS, lang, seconds=seconds)
    minutes, rest = divmod(seconds, 60)
    if rest:
        return say(Msg.MINUTES_SECONDS, lang, minutes=minutes, seconds=rest)
    return say(Msg.MINUTES, lang, minutes=minutes)


def eta(seconds: float | None, lang: str = SOURCE) -> str:
    """' – about 2 min left', or nothing when unknown."""
    if seconds is None:
        return ""
    return text(ETA_ALMOST_DONE, lang) if seconds < 1 else say(Msg.ETA_LEFT, lang, duration=duration(seconds, lang))


def render(error: UserFacingError, lang: str = SOURCE) -> str:
    """The sentence a core error names (a clip's numbers as people write them; a missing one as '?')."""
    if isinstance(error, ClipRefusedError):
        return text(MESSAGES[error.key], lang).format_map(_Numbers(error.values))
    if isinstance(error, UnusableInputError):
        return unusable(error.problem, lang)
    return say(error.key, lang, **error.values)


def reason(problem: Problem | None, lang: str = SOURCE) -> str:
    """What is wrong with an input, as a clause of the reader's language, with its numbers filled in."""
    if problem is None:
        return text(PROBLEMS["unknown"], lang)
    values = {k: f"{v:g}" if isinstance(v, float) else v for k, v in problem.values.items()}
    kind = problem.kind
    if kind == "too_big" and "megapixels" not in values:
        kind = "too_big_limit"
    if kind not in PROBLEMS or not set(_fields(PROBLEMS[kind])) <= set(values):
        kind = "unknown"  # a code this version does not know, or numbers missing: still a sentence the user can read
    return text(PROBLEMS[kind], lang).format(**values)


def unusable(problem: Problem, lang: str = SOURCE) -> str:
    """The answer to a photo or style that cannot be used, saying which to send again."""
    key = {"photo": Msg.UNUSABLE_PHOTO, "style": Msg.UNUSABLE_STYLE}.get(problem.role or "", Msg.UNUSABLE_IMAGE)
    return say(key, lang, reason=reason(problem, lang))


def failed(problem: Problem | None, lang: str = SOURCE) -> str:
    """The status of a job whose photo or style could not be used."""
    key = Msg.FAILED_STYLE if problem is not None and problem.role == "style" else Msg.FAILED_PHOTO
    return say(key, lang, reason=reason(problem, lang))


def _fields(message: str) -> list[str]:
    """The {placeholders} of a text."""
    return [name for _, name, _, _ in string.Formatter().parse(message) if name]


def say(key: Msg, lang: str = SOURCE, **values: object) -> str:
    """The message `key` in the reader's language, filled in (CANCELLED's `pending` flag becomes words)."""
    if key == Msg.CANCELLED:
        values = {**values, "pending": text(PENDING_CLEARED, lang) if values.get("pending") else ""}
    if key == Msg.PICK_FOR and not values.get("name"):
        values = {**values, "name": text(YOU, lang)}
    return text(MESSAGES[key], lang).format(**values)


class _Numbers(dict[str, object]):
    """Format values for a clip's sentence: 30.0 reads 30, and a value the engine did not give reads '?'."""

    def __getitem__(self, key: str) -> object:
        value = self.get(key, "?")
        try:
            return f"{float(str(value)):g}"
        except ValueError:
            return value

    def __missing__(self, key: str) -> object:
        return "?"


def sticker_note(note: StickerNote, lang: str = SOURCE) -> str:
    """What was done to a clip to make it a sticker: cut to 3 s, or played faster."""
    limit = f"{note.limit:g}"
    if note.code == "sped_up":
        return say(Msg.STICKER_SPED_UP, lang, factor=f"{note.value:.1f}", limit=limit)
    return say(Msg.STICKER_SHORTENED, lang, seconds=f"{note.value:.1f}", limit=limit)


def language_set(lang: str, automatic: bool) -> str:
    """The confirmation of a /language choice, in the language chosen."""
    return text(LANGUAGE_AUTO if automatic else LANGUAGE_SET, lang)


def language_unknown(code: str, lang: str = SOURCE) -> str:
    """'/language xx' for a language the bot does not speak: the codes it does."""
    return say(Msg.LANGUAGE_UNKNOWN, lang, code=code[:16], codes=", ".join(LANGUAGES))


def suggested_titles(error: UnknownPresetError, lang: str = SOURCE) -> str:
    """The titles of an unknown name's suggestions as a sentence lists them ("A", "A or B")."""
    titles = [error.titles[n] for n in error.suggestions]
    if len(titles) > 1:
        return say(Msg.ALTERNATIVES, lang, first=", ".join(titles[:-1]), last=titles[-1])
    return titles[0] if titles else ""


def preset_error(error: PresetError, lang: str = SOURCE) -> str:
    """A style name or list the library could not make sense of, worded for the reader."""
    if isinstance(error, UnknownPresetError):
        listed = suggested_titles(error, lang)
        if isinstance(error, AmbiguousPresetError):
            return say(Msg.AMBIGUOUS_STYLE, lang, name=error.shown_name, titles=listed)
        if not error.installed:
            return say(Msg.UNKNOWN_STYLE_NONE, lang, name=error.shown_name)
        return say(
            Msg.UNKNOWN_STYLE_SUGGEST if listed else Msg.UNKNOWN_STYLE, lang, name=error.shown_name, titles=listed
        )
    if isinstance(error, InvalidPresetNameError):
        return say(Msg.BAD_PRESET_NAME, lang, name=error.shown_name)
    # Syntax errors are explained in detail in English only; other readers get the rule by example.
    return str(error) if lang == SOURCE else text(BAD_STYLE_SPEC, lang)


def status(state: Status, *, picture: bool = False, lang: str = SOURCE, clip: bool = False) -> str:
    """The text of a job's status message; over the instant picture (a clip's first frame), what follows."""
    line = _status(state, lang)
    preview = FIRST_FRAME if clip else INSTANT_PREVIEW
    return f"{text(preview, lang)}\n{line}" if picture and not state.final else line


def _status(state: Status, lang: str) -> str:
    """The status line itself."""
    if state.kind == "queued":
        return say(Msg.QUEUED, lang, position=state.position or 1, eta=eta(state.eta_s, lang))
    if state.kind == "painting":
        return say(Msg.PROGRESS, lang, percent=state.percent or 0, eta=eta(state.eta_s, lang))
    if state.kind == "done":
        return say(Msg.DONE, lang, seconds=duration(state.seconds or 0, lang))
    if state.kind == "failed":
        if state.reason == "input":
            clip = ClipRefusedError.from_problem(state.problem)
            if clip is not None:  # a clip the worker could not paint: the engine's reason in the reader's words
                return f"❌ {render(clip, lang)}"
            return failed(state.problem, lang)
        return text(FAILED_INTERNAL, lang)
    if state.kind == "unavailable":
        return text(UNAVAILABLE_TOLD if state.detail == "told" else UNAVAILABLE, lang)
    if state.kind == "restarted":
        return say(Msg.RESTARTED, lang, position=state.position or 1)
    fixed = {"starting": STARTING, "retrying": RETRYING, "cancelled": CANCELLED_STATUS}
    return text(fixed[state.kind], lang)


def caption(job: Job, presets: PresetLibrary, size: tuple[int, int], seconds: float, lang: str = SOURCE) -> str:
    """Style (the painting's title and artist), quality, size, strength, time taken, and who asked in groups."""
    credit = job.chat_id < 0 and job.user_name
    return say(
        Msg.CAPTION,
        lang,
        styles=style_titles(job, presets, lang),
        quality=text(TIER_LABELS[job.params.quality], lang),
        size=f"{size[0]}×{size[1]}",
        strength=text(STRENGTH_LABELS[job.params.strength], lang),
        colours=text(CAPTION_COLOURS, lang) if job.params.keep_colors else "",
        duration=duration(seconds, lang),
        credit=say(Msg.CAPTION_CREDIT, lang, name=job.user_name) if credit else "",
    )


def style_titles(job: Job, presets: PresetLibrary, lang: str = SOURCE) -> str:
    """'The Starry Night — Vincent van Gogh, 1889', or a blend's titles with their shares."""
    total = sum(ref.weight for ref in job.styles)
    names = []
    for ref in job.styles:
        preset = presets.find(ref.name) if ref.kind == "preset" and ref.name else None
        fallback = default_title(ref.name or "") or text(YOUR_STYLE_PHOTO, lang)
        if len(job.styles) == 1:
            names.append(preset.label if preset else fallback)
        else:
            names.append(f"{preset.title if preset else fallback} {ref.weight / total:.0%}")
    return " + ".join(names)


def job_lines(rows: list[tuple[Job, int | None, float | None]], lang: str = SOURCE) -> str:
    """/status: a line per active job."""
    if not rows:
        return text(NO_JOBS, lang)
    lines = []
    for job, position, left in rows:
        styles = " + ".join(r.name or text(PHOTO, lang) for r in job.styles)
        if job.status == "running":
            state = say(Msg.JOB_PAINTING, lang, percent=round(job.progress * 100))
        else:
            state = say(Msg.JOB_QUEUED, lang, position=position)
        lines.append(f"#{job.id} {styles} ({job.params.quality}): {state}{eta(left, lang)}")
    return "\n".join(lines)


# -- /stats (operators) ------------------------------------------------------

STATS_REFUSED = N_("Sorry, /stats is only for the bot's operators.")
STATS_CHART = N_("Jobs per hour and their median wait, last 24 hours (UTC).")
STATS_HEADER = N_("📊 Last 24 hours · last 7 days")
STATS_USERS = N_("Users: {day} · {week}")
STATS_JOBS = N_("Jobs: {day} · {week}")
STATS_WAIT = N_("Wait, median / p90: {day} · {week}")
STATS_PAINTING = N_("Painting, median / p90: {day} · {week}")
STATS_FAILURES = N_("Failures (7 days): {failures}")
STATS_WORKERS = N_("Workers: {up} of {configured} up, {busy} busy")
STATS_WORKERS_DOWN = N_("{workers}; down: {down}")
STATS_WORKERS_UNAVAILABLE = N_("Workers: none can load the model ({configured} configured)")
# A job's states, in the order /stats lists them.
STATS_STATES = {
    "done": N_("done"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "undeliverable": N_("undeliverable"),
    "queued": N_("queued"),
    "running": N_("running"),
    "delivering": N_("delivering"),
}
CHART_TITLE = N_("Jobs per hour and median wait (UTC)")
CHART_JOBS_AXIS = N_("jobs per hour")
CHART_WAIT_AXIS = N_("median wait, s")
CHART_JOBS = N_("jobs")
CHART_WAIT = N_("median wait")
# The tiers from the fastest to the finest, as /stats lists them.
_TIER_ORDER = {quality: i for i, quality in enumerate(TIER_LABELS)}


def usage(report: UsageReport, lang: str = SOURCE) -> str:
    """/stats: each line gives the last 24 hours, then the last 7 days."""
    day, week = report.day, report.week
    lines = [text(STATS_HEADER, lang), say(Msg.STATS_USERS, lang, day=day.users, week=week.users)]
    lines.append(say(Msg.STATS_JOBS, lang, day=day.total, week=week.total))
    day_states, week_states = day.by_state(), week.by_state()
    lines += [
        _count(text(label, lang), day_states.get(state, 0), n)
        for state, label in STATS_STATES.items()
        if (n := week_states.get(state, 0))
    ]
    day_tiers, week_tiers = day.by_quality(), week.by_quality()
    # In tier order, not alphabetically: the English names' alphabet means nothing once they are translated.
    tiers = sorted(week_tiers.items(), key=lambda item: (_TIER_ORDER.get(item[0], len(_TIER_ORDER)), item[0]))
    lines += [_count(_tier(q, lang), day_tiers.get(q, 0), n) for q, n in tiers]
    lines.append(say(Msg.STATS_WAIT, lang, day=_spread(day.waits, lang), week=_spread(week.waits, lang)))
    lines.append(say(Msg.STATS_PAINTING, lang, day=_spread(day.runs, lang), week=_spread(week.runs, lang)))
    if week.failures:
        top = sorted(week.failures.items(), key=lambda item: -item[1])[:5]
        failures = "; ".join(f"{reason[:60]} ×{n}" for reason, n in top)  # the errors as logged, for operators
        lines.append(say(Msg.STATS_FAILURES, lang, failures=failures))
    lines.append(_workers(report, lang))
    return "\n".join(lines)


def chart_labels(lang: str = SOURCE) -> ChartLabels:
    """The /stats chart's words in the reader's language (English where matplotlib cannot lay out the script)."""
    if lang in RIGHT_TO_LEFT and not LAYS_OUT_RIGHT_TO_LEFT:
        return ChartLabels()
    return ChartLabels(
        title=text(CHART_TITLE, lang),
        jobs_axis=text(CHART_JOBS_AXIS, lang),
        wait_axis=text(CHART_WAIT_AXIS, lang),
        jobs=text(CHART_JOBS, lang),
        wait=text(CHART_WAIT, lang),
    )


def _count(label: str, day: int, week: int) -> str:
    """'  done: 3 · 12', indented under the jobs."""
    return f"  {label}: {day} · {week}"


def _tier(quality: str, lang: str) -> str:
    """A quality as captions name it; one this version does not know keeps its stored name."""
    label = TIER_LABELS.get(quality)
    return text(label, lang) if label else quality


def _spread(values: list[float], lang: str) -> str:
    """'2.1 s / 9 s', or '–' without data."""
    median, p90 = quantile(values, 0.5), quantile(values, 0.9)
    if median is None or p90 is None:
        return "–"
    return f"{_seconds(median, lang)} / {_seconds(p90, lang)}"


def _seconds(value: float, lang: str) -> str:
    """Tenths below 10 s (instant pictures take less than one), else as durations read."""
    return say(Msg.SECONDS, lang, seconds=f"{value:.1f}") if value < 10 else duration(value, lang)


def _workers(report: UsageReport, lang: str) -> str:
    """'Workers: 2 of 2 up, 1 busy', plus the ones down and why."""
    workers = report.workers
    if workers.unavailable:
        return say(Msg.STATS_WORKERS_UNAVAILABLE, lang, configured=workers.configured)
    line = say(Msg.STATS_WORKERS, lang, up=len(workers.up), configured=workers.configured, busy=workers.busy)
    down = ", ".join(f"#{worker_id} {why}" for worker_id, why in sorted(workers.down.items()))
    return say(Msg.STATS_WORKERS_DOWN, lang, workers=line, down=down) if down else line


# Every message the layers below name (bot/core/messages.py), worded; tests check that none is missing.
MESSAGES: dict[Msg, str] = {
    Msg.ADDSTYLE_USAGE: ADDSTYLE_USAGE,
    Msg.ADMIN_ONLY: ADMIN_ONLY,
    Msg.ADMIN_WORKERS_DOWN: ADMIN_WORKERS_DOWN,
    Msg.ALBUM_EXTRA: ALBUM_EXTRA,
    Msg.ALTERNATIVES: ALTERNATIVES,
    Msg.AMBIGUOUS_STYLE: AMBIGUOUS_STYLE,
    Msg.BAD_PRESET_NAME: BAD_PRESET_NAME,
    Msg.BUSY: BUSY,
    Msg.BUTTON_GONE: BUTTON_GONE,
    Msg.CANCELLED: CANCELLED,
    Msg.CANNOT_POST: CANNOT_POST,
    Msg.CANNOT_POST_MEDIA: CANNOT_POST_MEDIA,
    Msg.CAPTION: CAPTION,
    Msg.CAPTION_CREDIT: CAPTION_CREDIT,
    Msg.CLUSTER_BUSY: CLUSTER_BUSY,
    Msg.DELSTYLE_USAGE: DELSTYLE_USAGE,
    Msg.DONE: DONE,
    Msg.ERROR: ERROR,
    Msg.ETA_LEFT: ETA_LEFT,
    Msg.FAILED_PHOTO: FAILED_PHOTO,
    Msg.FAILED_STYLE: FAILED_STYLE,
    Msg.FILE_OVER_LIMIT: FILE_OVER_LIMIT,
    Msg.FILE_TOO_LARGE: FILE_TOO_LARGE,
    Msg.FORGOTTEN: FORGOTTEN,
    Msg.GOT_CONTENT: GOT_CONTENT,
    Msg.GOT_CONTENT_DID_YOU_MEAN: GOT_CONTENT_DID_YOU_MEAN,
    Msg.GROUP_ADMINS_ONLY: GROUP_ADMINS_ONLY,
    Msg.GROUP_SETTINGS: GROUP_SETTINGS,
    Msg.GROUP_SETTINGS_PRIVATE: GROUP_SETTINGS_PRIVATE,
    Msg.HELP: HELP,
    Msg.INLINE_PRESET: INLINE_PRESET,
    Msg.INSTANT_ONLY: INSTANT_ONLY,
    Msg.INSTANT_PREVIEW: INSTANT_PREVIEW,
    Msg.JOB_PAINTING: JOB_PAINTING,
    Msg.JOB_QUEUED: JOB_QUEUED,
    Msg.LANGUAGE_CHOOSE: LANGUAGE_CHOOSE,
    Msg.LANGUAGE_UNKNOWN: LANGUAGE_UNKNOWN,
    Msg.MAKING_OF: MAKING_OF,
    Msg.MAKING_OF_GONE: MAKING_OF_GONE,
    Msg.MINUTES: MINUTES,
    Msg.MINUTES_SECONDS: MINUTES_SECONDS,
    Msg.NEED_CONTENT: NEED_CONTENT,
    Msg.NOTHING_TO_CANCEL: NOTHING_TO_CANCEL,
    Msg.NOTHING_TO_REPEAT: NOTHING_TO_REPEAT,
    Msg.NOT_AN_IMAGE: NOT_AN_IMAGE,
    Msg.NOT_YOUR_MENU: NOT_YOUR_MENU,
    Msg.NO_PRESETS: NO_PRESETS,
    Msg.NO_PRESETS_INSTALLED: NO_PRESETS_INSTALLED,
    Msg.PICK_FOR: PICK_FOR,
    Msg.PICK_HINT: PICK_HINT,
    Msg.PROGRESS: PROGRESS,
    Msg.QUEUED: QUEUED,
    Msg.QUEUED_TAP: QUEUED_TAP,
    Msg.REMIX_GONE: REMIX_GONE,
    Msg.RESTARTED: RESTARTED,
    Msg.SECONDS: SECONDS,
    Msg.SETTINGS: SETTINGS,
    Msg.SETTINGS_SAVED: SETTINGS_SAVED,
    Msg.SETTING_GONE: SETTING_GONE,
    Msg.SHARED: SHARED,
    Msg.START: START,
    Msg.STATS_CHART: STATS_CHART,
    Msg.STATS_FAILURES: STATS_FAILURES,
    Msg.STATS_JOBS: STATS_JOBS,
    Msg.STATS_PAINTING: STATS_PAINTING,
    Msg.STATS_REFUSED: STATS_REFUSED,
    Msg.STATS_USERS: STATS_USERS,
    Msg.STATS_WAIT: STATS_WAIT,
    Msg.STATS_WORKERS: STATS_WORKERS,
    Msg.STATS_WORKERS_DOWN: STATS_WORKERS_DOWN,
    Msg.STATS_WORKERS_UNAVAILABLE: STATS_WORKERS_UNAVAILABLE,
    Msg.STYLES_HEADER: STYLES_HEADER,
    Msg.STYLE_ADDED: STYLE_ADDED,
    Msg.STYLE_REMOVED: STYLE_REMOVED,
    Msg.STYLE_SET_DEFAULT: STYLE_SET_DEFAULT,
    Msg.STYLIZE_USAGE: STYLIZE_USAGE,
    Msg.TOO_MANY_IMAGES: TOO_MANY_IMAGES,
    Msg.UNAVAILABLE: UNAVAILABLE,
    Msg.UNAVAILABLE_TOLD: UNAVAILABLE_TOLD,
    Msg.UNKNOWN_STYLE: UNKNOWN_STYLE,
    Msg.UNKNOWN_STYLE_NONE: UNKNOWN_STYLE_NONE,
    Msg.UNKNOWN_STYLE_SUGGEST: UNKNOWN_STYLE_SUGGEST,
    Msg.UNUSABLE_IMAGE: UNUSABLE_IMAGE,
    Msg.UNUSABLE_PHOTO: UNUSABLE_PHOTO,
    Msg.UNUSABLE_STYLE: UNUSABLE_STYLE,
    Msg.USER_CAP: USER_CAP,
    Msg.CLIPS_NEED_INSTANT: CLIPS_NEED_INSTANT,
    Msg.CLIP_AS_STYLE: CLIP_AS_STYLE,
    Msg.CLIP_DAMAGED: CLIP_DAMAGED,
    Msg.CLIP_FILE_TOO_LARGE: CLIP_FILE_TOO_LARGE,
    Msg.CLIP_NO_ALPHA: CLIP_NO_ALPHA,
    Msg.CLIP_NO_FRAMES: CLIP_NO_FRAMES,
    Msg.CLIP_NO_VIDEO: CLIP_NO_VIDEO,
    Msg.CLIP_STICKER_TOO_BIG: CLIP_STICKER_TOO_BIG,
    Msg.CLIP_TOO_LARGE: CLIP_TOO_LARGE,
    Msg.CLIP_TOO_LONG: CLIP_TOO_LONG,
    Msg.CLIP_TOO_MANY_FRAMES: CLIP_TOO_MANY_FRAMES,
    Msg.CLIP_UNSUPPORTED: CLIP_UNSUPPORTED,
    Msg.FIRST_FRAME: FIRST_FRAME,
    Msg.GOT_CLIP: GOT_CLIP,
    Msg.GOT_CLIP_DID_YOU_MEAN: GOT_CLIP_DID_YOU_MEAN,
    Msg.STICKER_ADDED: STICKER_ADDED,
    Msg.STICKER_PACK_CREATED: STICKER_PACK_CREATED,
    Msg.STICKER_PACK_FAILED: STICKER_PACK_FAILED,
    Msg.STICKER_PACK_GONE: STICKER_PACK_GONE,
    Msg.STICKER_PACK_TITLE: STICKER_PACK_TITLE,
    Msg.STICKER_SHORTENED: STICKER_SHORTENED,
    Msg.STICKER_SPED_UP: STICKER_SPED_UP,
}
