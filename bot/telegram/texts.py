"""Everything the bot says, in one place: the core names a sentence by its key, this module words it."""

from __future__ import annotations

from bot.core.errors import UserFacingError
from bot.core.models import Job
from bot.core.recipes import TIERS
from bot.jobs.notifier import Status
from bot.presets.library import PresetLibrary, default_title

START = (
    "Send me a photo, then a second photo or a painting from the list, and I'll repaint the first "
    "in the style of the second.\nTip: caption your photo with a style name (e.g. starry_night) to start at once."
)
HELP = """Commands
/styles – the preset paintings
/style NAME – pick a painting (blend: /style starry_night:0.7 the_scream:0.3)
/settings – quality, strength, colours
/status – your jobs
/again – your last picture once more, with a new seed
/cancel – cancel what is pending or running
/forget – delete your photos, results, settings and history
/help – this list

How it works: send a photo (as a photo or as an image file), then send a style photo or tap a painting.
An album of two photos works too: the first is the content, the second the style.
Reply to a result with a painting's name or a style photo to restyle it.
In groups: reply to any photo with /stylize NAME (or /stylize to choose).
Share results anywhere by typing @{bot} in any chat."""
PICK_FOR = "{name}, pick a painting for this photo:"
NOT_YOUR_MENU = "This menu is for someone else. Reply to a photo with /stylize to get your own."
STYLIZE_USAGE = "Reply to a photo with /stylize NAME, or with /stylize to choose a painting."
NOTHING_TO_REPEAT = "There is nothing to repeat yet: send me a photo first."
REMIX_GONE = "I can't find that picture any more; send the photo again."
MAKING_OF_GONE = "The making-of of that picture is no longer kept."
GROUP_ADMINS_ONLY = "Only the group's admins can change its settings."
GROUP_SETTINGS = "Highest quality allowed in this group:"
GROUP_SETTINGS_PRIVATE = "/groupsettings works in groups; use /settings here."
INLINE_PRESET = "🎨 {label}\nRepaint your photo like this: send it to @{bot}"
GOT_CONTENT = "Got your photo. Now send a style image, or pick a painting:"
NO_PRESETS = "Got your photo. Now send a style image (no preset paintings are installed yet)."
NEED_CONTENT = "Send me a photo to repaint (see /help)."
PICK_HINT = "Send a style photo, tap a painting above, or type a painting's name (see /styles)."
STYLE_SET_DEFAULT = "OK: {style} will be used for your next photo."
SETTINGS = "Your settings (tap to change):"
SETTINGS_SAVED = "Saved."
NOTHING_TO_CANCEL = "Nothing to cancel."
CANCELLED = "Cancelled {jobs} job(s){pending}."
NOT_AN_IMAGE_MESSAGE = "That message has no photo."
PENDING_CLEARED = " and forgot your pending photo"
NO_JOBS = "You have no jobs queued or running."
NOT_AN_IMAGE = "That file isn't an image I can read. Send a JPEG, PNG or WebP photo."
CORRUPT_IMAGE = "I couldn't read that image ({reason}) Please send another one."
TOO_LARGE = "{reason} Please send a smaller image, or send it as a photo instead of a file."
STYLES_HEADER = "Preset paintings – tap one to use it, or send /style NAME:"
ADMIN_ONLY = "Only the bot's admins can change the preset list."
ADDSTYLE_USAGE = "Reply to a photo with /addstyle NAME (letters, digits and _)."
DELSTYLE_USAGE = "Usage: /delstyle NAME"
STYLE_ADDED = "Added preset {name}."
STYLE_REMOVED = "Removed preset {name}."
ERROR = "Sorry, something went wrong on my side. Your photo is kept; please try again."

QUEUED = "⏳ Queued – position {position}{eta}."
STARTING = "🎨 Starting…"
PROGRESS = "🎨 Painting… {percent}%{eta}"
DONE = "✅ Done in {seconds}."
FAILED = "❌ Sorry, that didn't work: {reason}"
FAILED_INTERNAL = "❌ Sorry, that failed twice on my side. Please try again later."
CANCELLED_STATUS = "🚫 Cancelled."
UNAVAILABLE = "❌ Painting is unavailable: the operator has to install the model weights. Please try again later."
UNAVAILABLE_TOLD = (
    "❌ Painting is unavailable: the operator has to install the model weights (the bot's admins have been told). "
    "Please try again later."
)
FILE_TOO_LARGE = "That file is {size} MB; the limit is {limit} MB. Send a smaller image, or send it as a photo."
TOO_MANY_IMAGES = "You're sending images faster than I can look at them (at most {per_minute} a minute). Wait a minute."
ALBUM_EXTRA = "I used the first two photos of your album (photo and style); the others are not used."
SETTING_GONE = "That setting no longer exists; send /settings again."
BUTTON_GONE = "This button no longer works; send the command again."
QUEUED_TAP = "Queued!"
CANNOT_POST_MEDIA = (
    "🚫 I painted your picture but may not post pictures in this chat. An admin can allow me to send media."
)
CANNOT_POST = "🚫 I painted your picture but Telegram would not take it ({reason})."
FORGOTTEN = (
    "Deleted: {jobs} job(s) with their results, {photos} cached photo(s), your settings and pending photo. "
    "Nothing else about you is kept."
)
BUSY = "The bot is busy right now, please try again in a few minutes."
CLUSTER_BUSY = "The painting service is busy right now, please try again shortly."  # its broker is unreachable
USER_CAP = "You already have {limit} job(s) waiting; wait for them or /cancel."
ADMIN_WORKERS_DOWN = "⚠️ stylebot cannot paint: its workers fail to start.\n{reason}"
RESTARTED = "⏳ I restarted; your job is queued again – position {position}."
RETRYING = "⏳ A worker crashed; retrying your job."
INSTANT_PREVIEW = "⚡ Instant preview – the full painting follows."


def duration(seconds: float) -> str:
    """'42 s' or '3 min 5 s'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"


def eta(seconds: float | None) -> str:
    """' – about 2 min left', or nothing when unknown."""
    if seconds is None:
        return ""
    return " – almost done" if seconds < 1 else f" – about {duration(seconds)} left"


def render(error: UserFacingError) -> str:
    """The sentence a core error names."""
    return say(error.key, **error.values)


def say(key: str, **values: object) -> str:
    """The sentence named `key`, filled in (CANCELLED's `pending` flag becomes words)."""
    if key == "CANCELLED":
        values = {**values, "pending": PENDING_CLEARED if values.get("pending") else ""}
    if key == "PICK_FOR" and not values.get("name"):
        values = {**values, "name": "You"}
    template = globals()[key]
    return str(template).format(**values)


def status(state: Status, *, picture: bool = False) -> str:
    """The text of a job's status message; over the instant picture, a line says the full painting follows."""
    text = _status(state)
    return f"{INSTANT_PREVIEW}\n{text}" if picture and not state.final else text


def _status(state: Status) -> str:
    """The status line itself."""
    if state.kind == "queued":
        return QUEUED.format(position=state.position or 1, eta=eta(state.eta_s))
    if state.kind == "painting":
        return PROGRESS.format(percent=state.percent or 0, eta=eta(state.eta_s))
    if state.kind == "done":
        return DONE.format(seconds=duration(state.seconds or 0))
    if state.kind == "failed":
        if state.reason == "input":
            return FAILED.format(reason=state.detail or "the photo is no longer available.")
        return FAILED_INTERNAL
    if state.kind == "unavailable":
        return UNAVAILABLE_TOLD if state.detail == "told" else UNAVAILABLE
    fixed = {"starting": STARTING, "retrying": RETRYING, "cancelled": CANCELLED_STATUS}
    if state.kind == "restarted":
        return RESTARTED.format(position=state.position or 1)
    return fixed[state.kind]


def caption(job: Job, presets: PresetLibrary, size: tuple[int, int], seconds: float) -> str:
    """Style (the painting's title and artist), quality, size, strength, time taken, and who asked in groups."""
    quality = TIERS[job.params.quality].label
    colours = " · photo colours" if job.params.keep_colors else ""
    credit = f"\nfor {job.user_name}" if job.chat_id < 0 and job.user_name else ""
    return (
        f"🎨 {style_titles(job, presets)}\n{quality} {size[0]}×{size[1]} · {job.params.strength} strength"
        f"{colours} · {duration(seconds)}{credit}"
    )


def style_titles(job: Job, presets: PresetLibrary) -> str:
    """'The Starry Night — Vincent van Gogh, 1889', or a blend's titles with their shares."""
    total = sum(ref.weight for ref in job.styles)
    names = []
    for ref in job.styles:
        preset = presets.find(ref.name) if ref.kind == "preset" and ref.name else None
        if len(job.styles) == 1:
            names.append(preset.label if preset else default_title(ref.name or "") or "your style photo")
        else:
            title = preset.title if preset else default_title(ref.name or "") or "your style photo"
            names.append(f"{title} {ref.weight / total:.0%}")
    return " + ".join(names)


def job_lines(rows: list[tuple[Job, int | None, float | None]]) -> str:
    """/status: a line per active job."""
    if not rows:
        return NO_JOBS
    lines = []
    for job, position, left in rows:
        styles = " + ".join(r.name or "photo" for r in job.styles)
        state = f"painting, {round(job.progress * 100)}%" if job.status == "running" else f"queued, position {position}"
        lines.append(f"#{job.id} {styles} ({job.params.quality}): {state}{eta(left)}")
    return "\n".join(lines)
