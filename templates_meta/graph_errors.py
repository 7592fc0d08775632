"""Meta's Graph API error codes, mapped once to what a caller can do about them.

Both sides of the Graph API read Meta's errors with it: the template management client here and the
Cloud API's message sends (``conversations.whatsapp.cloud``).
"""

from config.provider_errors import ErrorKind

ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes"

# Meta's error codes, mapped once. Source for every line: ERROR_CODES_URL. Codes not listed fall back on the
# HTTP status.
META_ERRORS: dict[int, ErrorKind] = {
    # 1 API unknown, 2 service temporarily down, 131000 something went wrong, 131016 service
    # unavailable, 133004 server temporarily unavailable: transient on Meta's side. 131057 account
    # in maintenance (a throughput upgrade, about a minute). 131048 spam rate limit and 133016
    # register/deregister rate limit clear after hours: retryable only with the long RETRY_AFTER.
    **dict.fromkeys((1, 2, 131000, 131016, 133004, 131057, 131048, 133016), ErrorKind.RETRYABLE),
    # 4 app call rate limit, 80007 WABA rate limit, 130429 messages per second of the number.
    **dict.fromkeys((4, 80007, 130429), ErrorKind.THROUGHPUT),
    # 131056 too many messages to the same user: back off for that user only (4^X seconds).
    131056: ErrorKind.PAIR_RATE_LIMIT,
    # 131047 more than 24 h since the user last wrote: only a template can reach them now.
    131047: ErrorKind.WINDOW_CLOSED,
    # 131026 undeliverable (not on WhatsApp, old app, terms not accepted), 131021 recipient is the
    # sender, 131030 not in the allowed list (test numbers), 131062 a BSUID cannot receive this
    # message (resend to the phone number): all about whom we addressed, not what we sent.
    **dict.fromkeys((131026, 131021, 131030, 131062), ErrorKind.INVALID_RECIPIENT),
    # 132000 parameter count, 132001 missing in that language, 132005 text too long, 132007 policy,
    # 132008 parameter value, 132012 parameter format, 132015 paused, 132016 disabled, 132018
    # component parameters (v23+): the template or its filling must change.
    **dict.fromkeys((132000, 132001, 132005, 132007, 132008, 132012, 132015, 132016, 132018), ErrorKind.TEMPLATE),
    # 0 and 190 token expired or invalidated; 3, 10 and 200-299 capability or permission missing;
    # 131005 access denied; 131031 business account locked: an operator must act on the channel.
    **dict.fromkeys((0, 190, 3, 10, 131005, 131031, *range(200, 300)), ErrorKind.AUTH),
    # Permanent although Meta may answer them with a 5xx or 403 that would otherwise read as
    # retryable or auth: 131049 per-user marketing limit (each retry extends the block, so we do not
    # retry), 131050 user stopped marketing messages, 131045 certificate (re-register), 368 policy
    # block, 133010 number not registered on Cloud API.
    **dict.fromkeys((131049, 131050, 131045, 368, 133010), ErrorKind.PERMANENT),
}
# Seconds to wait when Meta sends no Retry-After: "about 60 s" for maintenance, "hours" for the
# spam and registration limits (an hour, then the task's backoff takes over).
RETRY_AFTER: dict[int, float] = {131057: 60, 131048: 3600, 133016: 3600}


def classify(code: int | None, http_status: int) -> ErrorKind:
    """The kind of a Meta error: its code if we know it, else what its HTTP status implies."""
    if code in META_ERRORS:
        return META_ERRORS[code]
    if http_status >= 500:
        return ErrorKind.RETRYABLE
    if http_status == 429:
        return ErrorKind.THROUGHPUT
    if code is None and http_status in (401, 403):
        return ErrorKind.AUTH
    return ErrorKind.PERMANENT
