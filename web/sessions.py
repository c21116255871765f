"""Flask's signed-cookie sessions, the cookie of an unchanged session signed again at most
once a minute instead of on every response (issue 18).

A permanent session (everyone signed in: 12 hours, `PERMANENT_SESSION_LIFETIME`) is kept
alive by being sent again with a fresh signature; Flask does that on every response,
which serialises, compresses and signs the session each time: 0.14 of the 0.96 CPU ms a
signed-in page costs before its own work. Here the cookie goes out again when the session
changed, as before, or when its signature is a minute old or more: the 12 hours still
count from the last minute of use, and a page of a busy session does none of that work.
"""
from __future__ import annotations

import datetime as dt

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

SIGN_AGAIN_AFTER = dt.timedelta(minutes=1)


class SignedSession(SecureCookieSession):
    signed_at: dt.datetime | None = None  # when the cookie it came from was signed (aware, UTC)


class SessionInterface(SecureCookieSessionInterface):
    session_class = SignedSession

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:  # forged, altered or expired: a new, empty session
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or dt.datetime.now(dt.timezone.utc) - signed_at >= SIGN_AGAIN_AFTER
