"""Everything the bot says, in one place."""

from __future__ import annotations

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
UNAVAILABLE = "❌ Sorry, painting is unavailable right now (the bot's admins have been told). Please try later."
ADMIN_WORKERS_DOWN = "⚠️ stylebot cannot paint: its workers fail to start.\n{reason}"
RESTARTED = "⏳ I restarted; your job is queued again – position {position}."
RETRYING = "⏳ A worker crashed; retrying your job."


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
