"""Mail out: the outbox's rows become mail on the wire.

`sender.py` claims due `Outbox` rows and delivers them over SMTP (or into the outbox
folder); rows queued with a `spec` are rendered just before delivery, `compose.py` for
ticket notices and `digest_mail.py` for the scheduler's digests. Queuing a mail is not
done here: every front end does that through `domain.outbox` and `domain.notify`.
"""
